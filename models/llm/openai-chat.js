"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.OpenAIChatProvider = exports.NO_API_KEY = void 0;
// LlmProvider over Chat Completions: OpenAI itself, or any OpenAI-compatible server (vLLM,
// Ollama) by base URL. Compatible servers differ in what they accept, so the structured
// output mode and the name of the token limit field are settings.
const openai_1 = __importDefault(require("openai"));
const openai_planner_1 = require("../planner/openai-planner");
const provider_1 = require("./provider");
const provider_errors_1 = require("./provider-errors");
/** The placeholder key sent when a compatible server needs none (the SDK refuses an empty key). */
exports.NO_API_KEY = 'EMPTY';
class OpenAIChatProvider {
    kind;
    model;
    #client;
    #apiKey;
    #opts;
    constructor(opts) {
        this.kind = opts.kind ?? 'openai-chat';
        this.model = opts.model;
        this.#opts = opts;
        this.#apiKey = opts.apiKey || exports.NO_API_KEY;
        this.#client = new openai_1.default({ apiKey: this.#apiKey, baseURL: opts.baseURL, maxRetries: 0,
            // Our deadline (linkSignal) fires first; the SDK's is only a later backstop.
            ...(opts.timeoutMs ? { timeout: opts.timeoutMs + 1000 } : {}),
        });
    }
    buildBody(req) {
        const format = this.#opts.responseFormat ?? 'json_schema';
        const detail = this.#opts.imageDetail;
        const content = req.parts.map((p) => p.type === 'text' ? { type: 'text', text: p.text } : { type: 'image_url', image_url: { url: (0, provider_1.imageDataUrl)(p), ...(detail ? { detail } : {}) } });
        if (req.output && format !== 'json_schema') {
            // Without server-side enforcement the model only knows the shape from the prompt.
            content.push({ type: 'text', text: `Answer with one JSON value that follows this JSON schema:\n${JSON.stringify(req.output.schema)}` });
        }
        const messages = [];
        if (req.instructions)
            messages.push({ role: 'system', content: req.instructions });
        messages.push({ role: 'user', content });
        if (req.repair) {
            messages.push({ role: 'assistant', content: req.repair.previousAnswer });
            messages.push({ role: 'user', content: (0, provider_1.repairMessage)(req.repair.problem) });
        }
        const maxTokens = req.maxOutputTokens ?? this.#opts.maxOutputTokens;
        const body = { model: this.model, messages };
        if (maxTokens !== undefined)
            body[this.#opts.maxTokensField ?? 'max_completion_tokens'] = maxTokens;
        if (this.#opts.reasoningEffort)
            body.reasoning_effort = this.#opts.reasoningEffort;
        if (this.#opts.temperature !== undefined)
            body.temperature = this.#opts.temperature;
        if (req.output && format === 'json_schema') {
            body.response_format = { type: 'json_schema', json_schema: { name: req.output.name, schema: req.output.schema, strict: true } };
        }
        else if (req.output && format === 'json_object') {
            body.response_format = { type: 'json_object' };
        }
        return body;
    }
    async complete(req) {
        const body = this.buildBody(req);
        const link = (0, provider_errors_1.linkSignal)(req.signal, this.#opts.timeoutMs);
        let res;
        try {
            res = await this.#client.chat.completions.create(body, { signal: link.signal });
        }
        catch (err) {
            throw (0, provider_errors_1.toProviderError)(err, { provider: this.kind, model: this.model, signal: link.signal, secrets: [this.#apiKey], baseURL: this.#opts.baseURL });
        }
        finally {
            link.dispose();
        }
        const choice = res.choices?.[0];
        // Qwen3 on a server without a reasoning parser puts its thinking in the content.
        const text = (0, openai_planner_1.stripThinking)(choice?.message?.content ?? '');
        if (!text) {
            const why = choice?.message?.refusal ? 'refused' : `finish_reason=${choice?.finish_reason ?? 'none'}`;
            throw new provider_1.ProviderError(`${this.kind} ${this.model}: answer has no text: ${why}`, 'client');
        }
        return {
            text,
            usage: { inputTokens: res.usage?.prompt_tokens ?? 0, outputTokens: res.usage?.completion_tokens ?? 0 },
            model: res.model || this.model,
        };
    }
}
exports.OpenAIChatProvider = OpenAIChatProvider;
//# sourceMappingURL=openai-chat.js.map