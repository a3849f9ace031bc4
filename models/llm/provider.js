"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.ProviderError = void 0;
exports.imageDataUrl = imageDataUrl;
exports.repairMessage = repairMessage;
// One interface over every model API the verifier and the judges call: OpenAI Responses,
// OpenAI Chat Completions (and any OpenAI-compatible server by base URL), and Gemini on
// Vertex AI. A provider makes exactly one HTTP call per `complete` and classifies what went
// wrong; retries, rate limits, timeouts and the circuit breaker live in ResilientProvider,
// so every provider gets the same behaviour under load.
const errors_1 = require("../../core/errors");
/**
 * A failed provider call, classified. Rate limits, 5xx, timeouts and network errors are
 * retriable; client errors (400, 404, 422) and auth errors are not. The message never
 * contains the API key or the request body.
 */
class ProviderError extends errors_1.ValorError {
    kind;
    opts;
    constructor(message, kind, opts = {}) {
        super(message, { retriable: kind === 'rate-limit' || kind === 'server' || kind === 'timeout' || kind === 'network' || kind === 'aborted', cause: opts.cause });
        this.kind = kind;
        this.opts = opts;
    }
    get status() {
        return this.opts.status;
    }
    get retryAfterMs() {
        return this.opts.retryAfterMs;
    }
}
exports.ProviderError = ProviderError;
/** An image part as the data URL the OpenAI APIs take inline. */
function imageDataUrl(part) {
    return `data:${part.mediaType};base64,${part.data.toString('base64')}`;
}
/** The user turn that follows a bad answer: the same wording for every provider. */
function repairMessage(problem) {
    return `Your previous answer could not be used: ${problem}\nAnswer the same request again with corrected JSON only, following the required format exactly.`;
}
//# sourceMappingURL=provider.js.map