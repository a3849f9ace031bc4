"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.passthrough = exports.passthroughConfig = void 0;
exports.checkImageQuery = checkImageQuery;
const zod_1 = require("zod");
const errors_1 = require("../core/errors");
const per_record_1 = require("../core/per-record");
const processor_1 = require("../core/processor");
const retry_1 = require("../core/retry");
exports.passthroughConfig = zod_1.z
    .object({
    concurrency: zod_1.z.number().int().min(1).max(1024).default(64),
    retry: retry_1.retryPolicySchema.default(retry_1.retryPolicySchema.parse({})),
})
    .strict();
/** The checks every image query must pass before any stage spends money on it. */
function checkImageQuery(q) {
    const problems = [];
    if (!q.id.trim())
        problems.push('id is empty');
    if (!q.question.trim())
        problems.push('question is empty');
    if (!q.image.uri && !q.image.bytes)
        problems.push('image has neither uri nor bytes');
    if (q.phrases.some((p) => !p.trim()))
        problems.push('phrases contains an empty phrase');
    if (problems.length)
        throw new errors_1.ValidationError(`image query '${q.id}': ${problems.join('; ')}`);
}
/**
 * Forwards image queries unchanged, key included, after checking them: mirrors a corpus
 * topic, gates what enters the pipeline, and is the baseline node of the benchmarks.
 */
exports.passthrough = (0, processor_1.defineProcessor)({
    kind: 'passthrough',
    description: 'checks image queries and forwards them unchanged',
    input: 'ImageQuery',
    outputs: { out: 'ImageQuery' },
    config: exports.passthroughConfig,
    create: (config, ctx) => (0, per_record_1.perRecord)((rec) => {
        checkImageQuery(rec.value);
        return [{ port: 'out', key: rec.key ?? rec.value.id, value: rec.value }];
    }, { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler }),
});
//# sourceMappingURL=passthrough.js.map