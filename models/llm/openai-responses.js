"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.OpenAIResponsesProvider = void 0;
// LlmProvider over the OpenAI Responses API (the API OpenAI recommends for new work and
// the one that takes reasoning effort and strict JSON schemas together). One HTTP call per
// complete(): the SDK's retries are off, ResilientProvider retries for every provider.
const openai_1 = __importDefault(require("openai"));
const provider_1 = require("./provider");
const provider_errors_1 = require("./provider-errors");
class OpenAIResponsesProvider {
    kind;
    model;
    // ES private fields: the key never reaches JSON.stringify, util.inspect or a logged object.
    #client;
    #apiKey;
    #opts;
    constructor(opts) {
        this.kind = opts.kind ?? 'openai-responses';
        this.model = opts.model;
        this.#opts = opts;
        this.#apiKey = opts.apiKey;
        this.#client = new openai_1.default({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 0,
            // Our deadline (linkSignal) fires first; the SDK's is only a later backstop.
            ...(opts.timeoutMs ? { timeout: opts.timeoutMs + 1000 } : {}),
        });
    }
    /** The request body complete() sends (exported for tests and debugging; holds no key). */
    buildBody(req) {
        const detail = this.#opts.imageDetail ?? 'auto';
        const content = req.parts.map((p) => p.type === 'text' ? { type: 'input_text', text: p.text } : { type: 'input_image', image_url: (0, provider_1.imageDataUrl)(p), detail });
        const input = [{ role: 'user', content }];
        if (req.repair) {
            input.push({ role: 'assistant', content: req.repair.previousAnswer });
            input.push({ role: 'user', content: [{ type: 'input_text', text: (0, provider_1.repairMessage)(req.repair.problem) }] });
        }
        const effort = this.#opts.reasoningEffort === undefined ? 'medium' : this.#opts.reasoningEffort;
        const maxOutputTokens = req.maxOutputTokens ?? this.#opts.maxOutputTokens;
        return {
            model: this.model,
            ...(req.instructions ? { instructions: req.instructions } : {}),
            input,
            ...(req.output ? { text: { format: { type: 'json_schema', name: req.output.name, schema: req.output.schema, strict: true } } } : {}),
            ...(effort !== null ? { reasoning: { effort } } : {}),
            ...(maxOutputTokens !== undefined ? { max_output_tokens: maxOutputTokens } : {}),
            // Nothing to look up later; do not keep images at OpenAI.
            store: false,
        };
    }
    async complete(req) {
        const body = this.buildBody(req);
        const link = (0, provider_errors_1.linkSignal)(req.signal, this.#opts.timeoutMs);
        let res;
        try {
            res = await this.#client.responses.create(body, { signal: link.signal });
        }
        catch (err) {
            throw (0, provider_errors_1.toProviderError)(err, { provider: this.kind, model: this.model, signal: link.signal, secrets: [this.#apiKey], baseURL: this.#opts.baseURL });
        }
        finally {
            link.dispose();
        }
        const text = res.output_text ?? '';
        if (!text) {
            // Usually the whole token budget went on reasoning, or a refusal; the same request
            // would do the same again, so this is not worth a retry.
            const refused = res.output?.some((o) => o.type === 'message' && o.content.some((c) => c.type === 'refusal'));
            const why = refused ? 'refused' : `status=${res.status ?? 'unknown'}${res.incomplete_details?.reason ? ` (${res.incomplete_details.reason})` : ''}`;
            throw new provider_1.ProviderError(`${this.kind} ${this.model}: answer has no text: ${why}`, 'client');
        }
        return {
            text,
            usage: { inputTokens: res.usage?.input_tokens ?? 0, outputTokens: res.usage?.output_tokens ?? 0 },
            model: res.model || this.model,
        };
    }
}
exports.OpenAIResponsesProvider = OpenAIResponsesProvider;
//# sourceMappingURL=openai-responses.js.map