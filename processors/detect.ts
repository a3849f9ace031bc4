import { z } from 'zod';
import { deterministicId } from '../core/ids';
import { lineageOf } from '../core/lineage';
import { BatchItem, perBatch } from '../core/per-batch';
import { defineProcessor, Emit, InputRecord } from '../core/processor';
import { resourceKind, Resources } from '../core/resources';
import { retryPolicySchema } from '../core/retry';
import { GroundingDino } from '../models/detector/grounding-dino';
import { imageIntakeConfig, ImageIntake, LoadedImage } from '../models/images/image-intake';
import { preprocessImage, Preprocessed } from '../models/images/preprocess';
import type { DetectionRequest, DetectorProposals } from '../schemas/generated/types';

export const detectConfig = z
  .object({
    modelPath: z.string().min(1).default('weights/groundingdino_swint_ogc.onnx'),
    /** tokenizer.json or vocab.txt of the model's text encoder (bert-base-uncased). */
    tokenizerPath: z.string().min(1).default('weights/tokenizer.json'),
    /** Mining thresholds are low on purpose: the verifier removes the extra boxes. */
    boxThreshold: z.number().min(0).max(1).default(0.1),
    textThreshold: z.number().min(0).max(1).default(0.1),
    batchSize: z.number().int().min(1).max(64).default(4),
    maxTextLen: z.number().int().min(8).max(512).default(256),
    resize: z
      .object({ shortSide: z.number().int().min(16).default(800), maxSize: z.number().int().min(16).default(1333) })
      .strict()
      .prefault({}),
    intraOpThreads: z.number().int().min(1).optional(),
    images: imageIntakeConfig.prefault({}),
    retry: retryPolicySchema.prefault({}),
  })
  .strict();
export type DetectConfig = z.infer<typeof detectConfig>;

// Sessions are released when the runtime stops; a load that failed holds nothing to release.
const DETECTORS = resourceKind<Promise<GroundingDino>>('detector', (d) =>
  d.then(
    (detector) => detector.close(),
    () => undefined,
  ),
);

/** One loaded model per distinct model/tokenizer/threshold set in the runtime's resources. */
export function loadDetector(resources: Resources, c: DetectConfig): Promise<GroundingDino> {
  const key = JSON.stringify([c.modelPath, c.tokenizerPath, c.boxThreshold, c.textThreshold, c.batchSize, c.maxTextLen, c.intraOpThreads]);
  const d = resources.get(DETECTORS, key, () => GroundingDino.load(c));
  d.catch(() => resources.forget(DETECTORS, key, d)); // the next node or start-up tries again
  return d;
}

/** A request's image, fetched and checked, and the tensor made from it. */
type Prepared = { image: LoadedImage; pre: Preprocessed };

/**
 * detection-requests -> detector-proposals. Images are fetched and prepared per record
 * (a bad or refused image fails only its own record), then inferred in batches; one
 * inference runs at a time since it already uses every core.
 */
export const detect = defineProcessor({
  kind: 'detect',
  description: 'GroundingDINO (ONNX) proposals at low thresholds for each detection request',
  input: 'DetectionRequest',
  outputs: { proposals: 'DetectorProposals' },
  config: detectConfig,
  prepare: async (config, ctx) => {
    await loadDetector(ctx.resources, config);
  },
  create: (config, ctx) => {
    const intake = new ImageIntake(config.images);
    const resize = config.resize;

    const prepareOne = async (rec: InputRecord<DetectionRequest>): Promise<Prepared> => {
      const image = await intake.load(rec.value.image, ctx.signal);
      return { image, pre: await preprocessImage(image.bytes, resize, config.images.maxPixels, image.source) };
    };

    const infer = async (items: Array<BatchItem<DetectionRequest, Prepared>>): Promise<Emit[][]> => {
      const detector = await loadDetector(ctx.resources, config); // loaded by prepare: the shared model
      const results = await detector.detect(items.map(({ record, prepared }) => ({ image: prepared.pre, phrases: record.value.phrases })));
      const versions = {
        'detector.modelSha256': detector.modelSha256,
        'detector.layout': detector.layout,
        'detector.tokenizerSha256': detector.tokenizer.sha256,
        'detector.boxThreshold': String(config.boxThreshold),
        'detector.textThreshold': String(config.textThreshold),
      };
      return items.map(({ record, prepared }, i): Emit[] => {
        const r = results[i]!;
        const req = record.value;
        const { image, pre } = prepared;
        const value: DetectorProposals = {
          id: deterministicId('prop', req.id, detector.modelSha256, config.boxThreshold, config.textThreshold),
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
          lineage: lineageOf(ctx.node, [req.id, req.queryId], versions, record.origin),
        };
        return [{ port: 'proposals', key: req.queryId, value }];
      });
    };

    return perBatch<DetectionRequest, Prepared>(infer, {
      size: config.batchSize,
      concurrency: 1,
      prepare: prepareOne,
      prepareRetry: config.retry,
      // Inference is not retried (it never was): on the same tensors it would fail the same way.
      retry: { ...config.retry, maxAttempts: 1 },
      scheduler: ctx.scheduler,
    });
  },
});
