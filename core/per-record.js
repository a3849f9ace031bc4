"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.perRecord = perRecord;
const rxjs_1 = require("rxjs");
const retry_1 = require("./retry");
/**
 * Builds a processor operator from a per-record function: bounded concurrency, retries
 * with backoff for retriable errors, and exactly one Outcome per input. A record whose
 * work fails for good becomes a failure outcome (then a dead letter), and the stream goes on.
 */
function perRecord(fn, opts = {}) {
    const policy = opts.retry ?? retry_1.DEFAULT_RETRY;
    const scheduler = opts.scheduler ?? rxjs_1.asyncScheduler;
    return (input$) => input$.pipe((0, rxjs_1.mergeMap)((record) => (0, retry_1.withRetry)(() => (0, rxjs_1.defer)(() => (0, rxjs_1.from)(Promise.resolve().then(() => fn(record)))), policy, scheduler).pipe((0, rxjs_1.map)((outputs) => ({ input: record, outputs })), (0, rxjs_1.catchError)((err) => {
        const exhausted = err instanceof retry_1.AttemptsExhausted ? err : new retry_1.AttemptsExhausted(err, 1);
        return (0, rxjs_1.of)({
            input: record,
            outputs: [],
            failure: { error: exhausted.lastError, attempts: exhausted.attempts },
        });
    })), opts.concurrency ?? 16));
}
//# sourceMappingURL=per-record.js.map