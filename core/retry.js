"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.AttemptsExhausted = exports.DEFAULT_RETRY = exports.retryPolicySchema = void 0;
exports.backoffDelay = backoffDelay;
exports.withRetry = withRetry;
const rxjs_1 = require("rxjs");
const zod_1 = require("zod");
const errors_1 = require("./errors");
exports.retryPolicySchema = zod_1.z.object({
    /** Total attempts including the first; 1 disables retries. */
    maxAttempts: zod_1.z.number().int().min(1).default(3),
    initialDelayMs: zod_1.z.number().min(0).default(200),
    maxDelayMs: zod_1.z.number().min(0).default(10_000),
    multiplier: zod_1.z.number().min(1).default(2),
    /** Fraction of each delay drawn at random, so retries of many records do not align. */
    jitter: zod_1.z.number().min(0).max(1).default(0.2),
});
exports.DEFAULT_RETRY = exports.retryPolicySchema.parse({});
function backoffDelay(policy, retryNumber, random = Math.random) {
    const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (retryNumber - 1));
    return base * (1 - policy.jitter) + base * policy.jitter * random();
}
/** An error after the last attempt, carrying how many attempts were made. */
class AttemptsExhausted extends Error {
    lastError;
    attempts;
    constructor(lastError, attempts) {
        super(lastError instanceof Error ? lastError.message : String(lastError));
        this.lastError = lastError;
        this.attempts = attempts;
        this.name = 'AttemptsExhausted';
    }
}
exports.AttemptsExhausted = AttemptsExhausted;
/**
 * Runs `work` and re-subscribes on retriable errors with exponential backoff; time goes
 * through `scheduler` so marble tests can check the delays. Non-retriable errors fail at
 * once. The final error is wrapped in AttemptsExhausted with the attempt count.
 */
function withRetry(work, policy = exports.DEFAULT_RETRY, scheduler = rxjs_1.asyncScheduler, random = Math.random, retriable = errors_1.isRetriable) {
    return (0, rxjs_1.defer)(() => {
        let attempts = 0;
        return (0, rxjs_1.defer)(() => {
            attempts += 1;
            return work();
        }).pipe((0, rxjs_1.retry)({
            count: policy.maxAttempts - 1,
            delay: (err, retryCount) => retriable(err) ? (0, rxjs_1.timer)(backoffDelay(policy, retryCount, random), scheduler) : (0, rxjs_1.throwError)(() => err),
        }), (source) => new rxjs_1.Observable((sub) => source.subscribe({
            next: (v) => sub.next(v),
            complete: () => sub.complete(),
            error: (err) => sub.error(new AttemptsExhausted(err, attempts)),
        })));
    });
}
//# sourceMappingURL=retry.js.map