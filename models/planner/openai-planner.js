"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.OpenAIPlanner = exports.DEFAULT_PLAN_PROMPT = exports.plannerConfig = void 0;
exports.stripThinking = stripThinking;
const fs = __importStar(require("node:fs"));
const path = __importStar(require("node:path"));
const openai_1 = __importDefault(require("openai"));
const zod_1 = require("zod");
const errors_1 = require("../../core/errors");
const ids_1 = require("../../core/ids");
exports.plannerConfig = zod_1.z
    .object({
    /** Any OpenAI-compatible server: vLLM or Ollama serving Qwen3-8B or VALOR-8B. */
    baseUrl: zod_1.z.string().url(),
    model: zod_1.z.string().min(1).default('Qwen/Qwen3-8B'),
    /** Name of the environment variable holding the API key (never the key itself). */
    apiKeyEnv: zod_1.z.string().default('PLANNER_API_KEY'),
    // The method's sampling settings for the reasoning LLM.
    temperature: zod_1.z.number().min(0).max(2).default(0.7),
    topP: zod_1.z.number().min(0).max(1).default(0.8),
    topK: zod_1.z.number().int().min(1).default(20),
    maxTokens: zod_1.z.number().int().min(16).default(2048),
    timeoutMs: zod_1.z.number().int().min(100).default(60_000),
    promptFile: zod_1.z.string().optional(),
})
    .strict();
exports.DEFAULT_PLAN_PROMPT = path.join(__dirname, 'prompts', 'plan-v1.md');
function promptPath(file) {
    if (file)
        return file;
    // Compiled code runs from dist/, where the prompt file is not copied: use the source copy.
    for (const p of [exports.DEFAULT_PLAN_PROMPT, path.join(__dirname, '..', '..', '..', 'models', 'planner', 'prompts', 'plan-v1.md')]) {
        if (fs.existsSync(p))
            return p;
    }
    return exports.DEFAULT_PLAN_PROMPT;
}
/** Asks the reasoning LLM for a <plan>/<answer> program, through the official openai SDK. */
class OpenAIPlanner {
    cfg;
    prompt;
    promptHash;
    // An ES private field: the client holds the API key, and #fields never reach JSON or a logged object.
    #client;
    #apiKey;
    constructor(cfg, env = process.env) {
        this.cfg = cfg;
        this.prompt = fs.readFileSync(promptPath(cfg.promptFile), 'utf8');
        this.promptHash = (0, ids_1.sha256Hex)(this.prompt).slice(0, 16);
        // vLLM and Ollama accept any key; the node's retry policy does the retrying.
        this.#apiKey = env[cfg.apiKeyEnv] || 'EMPTY';
        this.#client = new openai_1.default({ baseURL: cfg.baseUrl, apiKey: this.#apiKey, timeout: cfg.timeoutMs, maxRetries: 0 });
    }
    async plan(question, signal) {
        let res;
        try {
            res = await this.#client.chat.completions.create({
                model: this.cfg.model,
                messages: [
                    { role: 'system', content: this.prompt },
                    { role: 'user', content: question },
                ],
                temperature: this.cfg.temperature,
                top_p: this.cfg.topP,
                max_tokens: this.cfg.maxTokens,
                // top_k is not in OpenAI's schema; vLLM and Ollama read it from the body.
                top_k: this.cfg.topK,
            }, { signal });
        }
        catch (err) {
            throw plannerError(err, this.cfg.baseUrl, this.#apiKey);
        }
        const choice = res.choices[0];
        const text = stripThinking(choice?.message?.content ?? '');
        if (!text) {
            // Usually max_tokens spent on thinking; the same settings would likely do it again.
            throw new errors_1.ProcessingError(`planner ${this.cfg.model} at ${this.cfg.baseUrl} returned no content (finish_reason=${choice?.finish_reason ?? 'none'})`);
        }
        return {
            text,
            model: res.model || this.cfg.model,
            promptHash: this.promptHash,
            usage: { inputTokens: res.usage?.prompt_tokens ?? 0, outputTokens: res.usage?.completion_tokens ?? 0 },
        };
    }
}
exports.OpenAIPlanner = OpenAIPlanner;
/** Retriable: rate limits, server errors, timeouts, lost connections and aborts. */
function plannerError(err, baseUrl, apiKey) {
    // The server's own words help most, but a server could echo what it was sent: scrub the key.
    const detail = (m) => (apiKey.length >= 4 ? m.split(apiKey).join('[redacted]') : m).slice(0, 500);
    // Aborted because the node is stopping: the query was not planned, so another try may succeed.
    if (err instanceof openai_1.default.APIUserAbortError) {
        return new errors_1.ProcessingError(`planner call to ${baseUrl} aborted`, { retriable: true });
    }
    if (err instanceof openai_1.default.APIConnectionError) {
        return new errors_1.ProcessingError(`planner at ${baseUrl} unreachable or timed out: ${detail(err.message)}`, { retriable: true });
    }
    if (err instanceof openai_1.default.APIError) {
        const status = err.status ?? 0;
        const retriable = status === 408 || status === 429 || status >= 500;
        // OpenAI nests the reason under `error`; older vLLM puts it at the top, which the SDK keeps in its message.
        const said = err.error?.message;
        return new errors_1.ProcessingError(`planner at ${baseUrl} answered HTTP ${status}: ${detail(typeof said === 'string' ? said : err.message)}`, { retriable });
    }
    return new errors_1.ProcessingError(`planner call failed: ${detail(String(err?.message ?? err))}`, { retriable: false });
}
/**
 * The answer without Qwen3's thinking, which appears in the content when the server runs
 * without a reasoning parser: drafts of the program in it would add gd_detect calls of
 * their own. Some chat templates open <think> in the prompt, so only </think> shows up.
 */
function stripThinking(content) {
    const end = content.indexOf('</think>');
    if (end >= 0)
        return content.slice(end + '</think>'.length).trim();
    // Cut off while still thinking (max_tokens): there is no answer yet.
    if (content.trimStart().startsWith('<think>'))
        return '';
    return content.trim();
}
//# sourceMappingURL=openai-planner.js.map