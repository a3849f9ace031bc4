"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.verify = exports.verifyConfig = void 0;
const rxjs_1 = require("rxjs");
const zod_1 = require("zod");
const ids_1 = require("../core/ids");
const lineage_1 = require("../core/lineage");
const processor_1 = require("../core/processor");
const per_record_1 = require("../core/per-record");
const retry_1 = require("../core/retry");
const image_intake_1 = require("../models/images/image-intake");
const create_provider_1 = require("../models/llm/create-provider");
const pricing_1 = require("../models/llm/pricing");
const resilient_provider_1 = require("../models/llm/resilient-provider");
const shared_providers_1 = require("../models/llm/shared-providers");
const cascade_1 = require("../models/verifier/cascade");
const prompts_1 = require("../models/verifier/prompts");
const verifier_1 = require("../models/verifier/verifier");
exports.verifyConfig = zod_1.z
    .object({
    provider: create_provider_1.providerConfig.prefault({ kind: 'openai-responses' }),
    /** Concurrency, RPM/TPM buckets, timeout, retries and circuit breaker, per provider. */
    limits: resilient_provider_1.resilienceConfig.prefault({}),
    /** USD per million tokens by model; defaults cover gpt-5-mini and gemini-2.5-flash. */
    prices: pricing_1.priceTableSchema.optional(),
    prompts: prompts_1.verifierPromptsConfig.prefault({}),
    crop: zod_1.z
        .object({ padFraction: zod_1.z.number().min(0).max(1).default(0.1), longSide: zod_1.z.number().int().min(32).max(4096).default(640) })
        .strict()
        .prefault({}),
    /** Proposal sets verified at once; their calls share the provider's concurrency limit. */
    concurrency: zod_1.z.number().int().min(1).max(1024).default(16),
    maxOutputTokens: zod_1.z.number().int().min(16).optional(),
    cache: zod_1.z
        .object({
        enabled: zod_1.z.boolean().default(true),
        /** Store name: a file in the embedded runtime, compacted topic `<prefix><store>` on Kafka. */
        store: zod_1.z.string().regex(/^[A-Za-z0-9._-]+$/).default('verdicts'),
    })
        .strict()
        .prefault({}),
    images: image_intake_1.imageIntakeConfig.prefault({}),
    /** Retries of a whole record (image fetch); provider calls retry on their own. */
    retry: retry_1.retryPolicySchema.prefault({ maxAttempts: 2 }),
})
    .strict();
/**
 * detector-proposals -> verifier-judgements (one per stage that ran) + pseudo-labels (one
 * per proposal set: the accepted boxes and every rejected box as a hard negative, with the
 * stage that rejected it and why). While the provider's circuit breaker is open the node
 * pauses consumption instead of failing records.
 */
exports.verify = (0, processor_1.defineProcessor)({
    kind: 'verify',
    description: 'three-stage VLM verification (coarse, per-box crop, final/dedup) of detector proposals',
    input: 'DetectorProposals',
    outputs: { judgements: 'VerifierJudgement', labels: 'PseudoLabel' },
    config: exports.verifyConfig,
    prepare: async (config) => {
        (0, prompts_1.loadVerifierPrompts)(config.prompts);
        (0, shared_providers_1.sharedProvider)(config.provider, config.limits, config.prices);
    },
    create: (config, ctx) => {
        const llm = (0, shared_providers_1.sharedProvider)(config.provider, config.limits, config.prices, ctx.logger);
        const prompts = (0, prompts_1.loadVerifierPrompts)(config.prompts);
        const intake = new image_intake_1.ImageIntake(config.images);
        const cacheStore = config.cache.enabled ? ctx.stores.open(config.cache.store) : Promise.resolve(null);
        const verifierP = cacheStore.then((cache) => new verifier_1.Verifier(llm, prompts, cache, { crop: config.crop, maxOutputTokens: config.maxOutputTokens }));
        // Outage: stop taking records (Kafka pauses the partitions) rather than failing them.
        const breaker = llm.state$
            .pipe((0, rxjs_1.map)((s) => s !== 'closed'), (0, rxjs_1.distinctUntilChanged)())
            .subscribe((down) => (down ? ctx.flow.pause(`provider ${llm.kind}/${llm.model} is down (circuit open)`) : ctx.flow.resume()));
        const op = (0, per_record_1.perRecord)(async (rec) => {
            const p = rec.value;
            const verifier = await verifierP;
            const declaredSha = p.image.sha256;
            let loadedSha;
            const image = {
                sha256: declaredSha ?? '',
                width: p.imageWidth,
                height: p.imageHeight,
                // Intake refuses bytes whose sha256 differs from the one the detector saw: boxes
                // judged on other pixels would label the wrong picture.
                load: async () => {
                    const img = await intake.load(p.image, ctx.signal);
                    loadedSha = img.sha256;
                    return img.bytes;
                },
            };
            if (!declaredSha) {
                // Without a hash from the detector, the cache key needs one now.
                await image.load();
                image.sha256 = loadedSha;
            }
            const result = await verifier.verify(image, p.boxes, ctx.signal);
            const version = verifier.version;
            const now = ctx.clock.now();
            const versions = {
                'verifier.version': version,
                'verifier.provider': llm.kind,
                'verifier.model': llm.model,
                'verifier.prompt.coarse': prompts.COARSE.hash,
                'verifier.prompt.crop': prompts.CROP.hash,
                'verifier.prompt.final': prompts.FINAL.hash,
            };
            const lineage = (parents) => (0, lineage_1.lineageOf)(ctx.node, parents, versions, rec.origin);
            const judgements = result.stages.map((s) => {
                const usage = (0, cascade_1.sumCalls)(s.calls);
                return {
                    id: (0, ids_1.deterministicId)('judg', p.id, s.stage, version),
                    proposalsId: p.id,
                    queryId: p.queryId,
                    stage: s.stage,
                    verdicts: s.verdicts.map((v) => ({ boxIndex: v.boxIndex, keep: v.keep, reason: v.reason })),
                    provider: llm.kind,
                    model: llm.model,
                    promptHash: prompts[s.stage].hash,
                    cached: s.calls.every((c) => c.cached),
                    usage,
                    rawAnswer: s.calls.length === 1 ? s.calls[0].raw : JSON.stringify(s.calls.map((c) => c.raw)),
                    createdAt: now,
                    lineage: lineage([p.id, p.queryId]),
                };
            });
            const total = (0, cascade_1.sumCalls)(result.stages.flatMap((s) => s.calls));
            const label = {
                id: (0, ids_1.deterministicId)('pl', p.id, version),
                proposalsId: p.id,
                queryId: p.queryId,
                // Inline bytes are kept only when there is no URI to find the image by.
                image: { ...p.image, bytes: p.image.uri ? null : p.image.bytes, sha256: image.sha256 },
                width: p.imageWidth,
                height: p.imageHeight,
                accepted: result.accepted.map((i) => p.boxes[i - 1]),
                negatives: result.rejected.map((r) => ({ box: p.boxes[r.boxIndex - 1], rejectedAt: r.stage, reason: r.reason })),
                verifierVersion: version,
                usage: total,
                createdAt: now,
                lineage: lineage([p.id, p.queryId, ...judgements.map((j) => j.id)]),
            };
            ctx.logger.debug({ proposals: p.id, boxes: p.boxes.length, accepted: label.accepted.length, calls: total.calls, costUsd: total.costUsd }, 'verified');
            return [
                ...judgements.map((j) => ({ port: 'judgements', key: p.queryId, value: j })),
                { port: 'labels', key: p.queryId, value: label },
            ];
        }, { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler });
        void breaker; // lives as long as the node
        return op;
    },
});
//# sourceMappingURL=verify.js.map