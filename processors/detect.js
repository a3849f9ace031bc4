"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.detect = exports.detectConfig = void 0;
exports.loadDetector = loadDetector;
const rxjs_1 = require("rxjs");
const zod_1 = require("zod");
const ids_1 = require("../core/ids");
const lineage_1 = require("../core/lineage");
const processor_1 = require("../core/processor");
const retry_1 = require("../core/retry");
const grounding_dino_1 = require("../models/detector/grounding-dino");
const image_intake_1 = require("../models/images/image-intake");
const preprocess_1 = require("../models/images/preprocess");
exports.detectConfig = zod_1.z
    .object({
    modelPath: zod_1.z.string().min(1).default('weights/groundingdino_swint_ogc.onnx'),
    /** tokenizer.json or vocab.txt of the model's text encoder (bert-base-uncased). */
    tokenizerPath: zod_1.z.string().min(1).default('weights/tokenizer.json'),
    /** Mining thresholds are low on purpose: the verifier removes the extra boxes. */
    boxThreshold: zod_1.z.number().min(0).max(1).default(0.1),
    textThreshold: zod_1.z.number().min(0).max(1).default(0.1),
    batchSize: zod_1.z.number().int().min(1).max(64).default(4),
    maxTextLen: zod_1.z.number().int().min(8).max(512).default(256),
    resize: zod_1.z.object({ shortSide: zod_1.z.number().int().min(16).default(800), maxSize: zod_1.z.number().int().min(16).default(1333) }).strict().prefault({}),
    intraOpThreads: zod_1.z.number().int().min(1).optional(),
    images: image_intake_1.imageIntakeConfig.prefault({}),
    retry: retry_1.retryPolicySchema.prefault({}),
})
    .strict();
// One loaded model per distinct model/tokenizer/threshold set in a process.
const loaded = new Map();
function loadDetector(c) {
    const key = JSON.stringify([c.modelPath, c.tokenizerPath, c.boxThreshold, c.textThreshold, c.batchSize, c.maxTextLen, c.intraOpThreads]);
    let d = loaded.get(key);
    if (!d) {
        d = grounding_dino_1.GroundingDino.load(c);
        d.catch(() => loaded.delete(key));
        loaded.set(key, d);
    }
    return d;
}
/**
 * detection-requests -> detector-proposals. Images are fetched and prepared per record
 * (a bad or refused image fails only its own record), then inferred in batches; one
 * inference runs at a time since it already uses every core.
 */
exports.detect = (0, processor_1.defineProcessor)({
    kind: 'detect',
    description: 'GroundingDINO (ONNX) proposals at low thresholds for each detection request',
    input: 'DetectionRequest',
    outputs: { proposals: 'DetectorProposals' },
    config: exports.detectConfig,
    prepare: async (config) => {
        await loadDetector(config);
    },
    create: (config, ctx) => {
        const intake = new image_intake_1.ImageIntake(config.images);
        const resize = config.resize;
        const prepareOne = async (rec) => {
            const image = await intake.load(rec.value.image, ctx.signal);
            return { image, pre: await (0, preprocess_1.preprocessImage)(image.bytes, resize, config.images.maxPixels, image.source) };
        };
        const runBatch = async (batch) => {
            const detector = await loadDetector(config);
            const prepared = await Promise.all(batch.map(async (rec) => {
                try {
                    return { rec, ok: await (0, rxjs_1.lastValueFrom)((0, retry_1.withRetry)(() => prepareOne(rec), config.retry, ctx.scheduler)) };
                }
                catch (err) {
                    const e = err instanceof retry_1.AttemptsExhausted ? err : new retry_1.AttemptsExhausted(err, 1);
                    return { rec, failure: { error: e.lastError, attempts: e.attempts } };
                }
            }));
            const ready = prepared.filter((p) => p.ok);
            let results = [];
            let inferenceError;
            try {
                results = ready.length ? await detector.detect(ready.map((p) => ({ image: p.ok.pre, phrases: p.rec.value.phrases }))) : [];
            }
            catch (err) {
                inferenceError = err;
            }
            const versions = {
                'detector.modelSha256': detector.modelSha256,
                'detector.layout': detector.layout,
                'detector.tokenizerSha256': detector.tokenizer.sha256,
                'detector.boxThreshold': String(config.boxThreshold),
                'detector.textThreshold': String(config.textThreshold),
            };
            return prepared.map((p) => {
                if (!p.ok)
                    return { input: p.rec, outputs: [], failure: p.failure };
                if (inferenceError !== undefined)
                    return { input: p.rec, outputs: [], failure: { error: inferenceError, attempts: 1 } };
                const r = results[ready.indexOf(p)];
                const req = p.rec.value;
                const { image, pre } = p.ok;
                const value = {
                    id: (0, ids_1.deterministicId)('prop', req.id, detector.modelSha256, config.boxThreshold, config.textThreshold),
                    requestId: req.id,
                    queryId: req.queryId,
                    image: { ...req.image, sha256: image.sha256, width: pre.origWidth, height: pre.origHeight, mediaType: image.mediaType },
                    imageWidth: pre.origWidth,
                    imageHeight: pre.origHeight,
                    caption: r.caption,
                    phrases: req.phrases,
                    boxes: r.boxes,
                    detector: { modelSha256: detector.modelSha256, layout: detector.layout, boxThreshold: config.boxThreshold, textThreshold: config.textThreshold },
                    createdAt: ctx.clock.now(),
                    lineage: (0, lineage_1.lineageOf)(ctx.node, [req.id, req.queryId], versions, p.rec.origin),
                };
                return { input: p.rec, outputs: [{ port: 'proposals', key: req.queryId, value }] };
            });
        };
        return (input$) => input$.pipe((0, rxjs_1.bufferCount)(config.batchSize), (0, rxjs_1.concatMap)((batch) => (0, rxjs_1.from)(runBatch(batch))), (0, rxjs_1.mergeMap)((outcomes) => (0, rxjs_1.from)(outcomes)));
    },
});
//# sourceMappingURL=detect.js.map