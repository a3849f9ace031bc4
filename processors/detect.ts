import { z } from 'zod';
import { deterministicId } from '../core/ids';
import { lineageOf } from '../core/lineage';
import { BatchItem, perBatch } from '../core/per-batch';
import { defineProcessor, Emit, InputRecord } from '../core/processor';
import { resourceKind, Resources } from '../core/resources';
import { retryPolicySchema } from '../core/retry';
import { DetectResult, GroundingDino } from '../models/detector/grounding-dino';
import { EXECUTION_PROVIDERS } from '../models/detector/execution-providers';
import { SimulatedDetector } from '../models/detector/simulated-detector';
import { imageIntakeConfig, ImageIntake, LoadedImage } from '../models/images/image-intake';
import { preprocessImage, Preprocessed } from '../models/images/preprocess';
import type { DetectionRequest, DetectorProposals } from '../schemas/generated/types';

export const detectConfig = z
  .object({
    /**
     * onnx: GroundingDINO on onnxruntime-node. simulated: a low-threshold detector simulated
     * from a synthetic corpus's ground truth (the demo and tests; no weights needed), whose
     * proposals carry `detector.kind: simulated` in their lineage.
     */
    kind: z.enum(['onnx', 'simulated']).default('onnx'),
    /** simulated: the corpus's ground-truth.jsonl (images are found by content hash). */
    groundTruth: z.string().min(1).optional(),
    /** simulated: the seed of its error draws. */
    seed: z.number().int().default(1),
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
    /** onnxruntime execution providers in order of preference, e.g. ["cuda", "cpu"]; a missing GPU provider stops start-up. */
    executionProviders: z.array(z.enum(EXECUTION_PROVIDERS)).min(1).default(['cpu']),
    images: imageIntakeConfig.prefault({}),
    retry: retryPolicySchema.prefault({}),
  })
  .strict()
  .refine((c) => c.kind !== 'simulated' || c.groundTruth, { path: ['groundTruth'], message: 'required when kind is simulated (a ground-truth.jsonl)' });
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
  const key = JSON.stringify([
    c.modelPath,
    c.tokenizerPath,
    c.boxThreshold,
    c.textThreshold,
    c.batchSize,
    c.maxTextLen,
    c.intraOpThreads,
    c.executionProviders,
  ]);
  const d = resources.get(DETECTORS, key, () => GroundingDino.load(c));
  d.catch(() => resources.forget(DETECTORS, key, d)); // the next node or start-up tries again
  return d;
}

const SIMULATED = resourceKind<SimulatedDetector>('simulated-detector', () => undefined);

/** The configured detector behind one interface: what it is called and how it runs a batch. */
interface Backend {
  modelSha256: string;
  layout: string;
  versions: Record<string, string>;
  run(items: Array<{ prepared: Prepared; phrases: string[] }>): Promise<DetectResult[]>;
}

async function backendFor(resources: Resources, c: DetectConfig): Promise<Backend> {
  const thresholds = { 'detector.boxThreshold': String(c.boxThreshold), 'detector.textThreshold': String(c.textThreshold) };
  if (c.kind === 'simulated') {
    const opts = { groundTruth: c.groundTruth!, seed: c.seed, boxThreshold: c.boxThreshold, textThreshold: c.textThreshold };
    const sim = resources.get(SIMULATED, JSON.stringify(opts), () => SimulatedDetector.load(opts));
    return {
      modelSha256: sim.modelSha256,
      layout: sim.layout,
      versions: { 'detector.kind': 'simulated', 'detector.modelSha256': sim.modelSha256, 'detector.seed': String(c.seed), ...thresholds },
      run: async (items) => items.map(({ prepared, phrases }) => sim.detect({ sha256: prepared.image.sha256, phrases })),
    };
  }
  const d = await loadDetector(resources, c);
  return {
    modelSha256: d.modelSha256,
    layout: d.layout,
    versions: {
      'detector.kind': 'onnx',
      'detector.modelSha256': d.modelSha256,
      'detector.layout': d.layout,
      'detector.tokenizerSha256': d.tokenizer.sha256,
      ...thresholds,
    },
    run: (items) => d.detect(items.map(({ prepared, phrases }) => ({ image: prepared.pre!, phrases }))),
  };
}

/** A request's image, fetched and checked, and (for a model) the tensor made from it. */
type Prepared = { image: LoadedImage; pre: Preprocessed | null };

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
    await backendFor(ctx.resources, config);
  },
  create: (config, ctx) => {
    const intake = new ImageIntake(config.images);
    const resize = config.resize;

    const prepareOne = async (rec: InputRecord<DetectionRequest>): Promise<Prepared> => {
      const image = await intake.load(rec.value.image, ctx.signal);
      if (config.kind === 'simulated') return { image, pre: null };
      return { image, pre: await preprocessImage(image.bytes, resize, config.images.maxPixels, image.source) };
    };

    const infer = async (items: Array<BatchItem<DetectionRequest, Prepared>>): Promise<Emit[][]> => {
      const detector = await backendFor(ctx.resources, config); // loaded by prepare: the shared model
      const results = await detector.run(items.map(({ record, prepared }) => ({ prepared, phrases: record.value.phrases })));
      return items.map(({ record, prepared }, i): Emit[] => {
        const r = results[i]!;
        const req = record.value;
        const { image, pre } = prepared;
        const width = pre?.origWidth ?? image.width;
        const height = pre?.origHeight ?? image.height;
        const value: DetectorProposals = {
          id: deterministicId('prop', req.id, detector.modelSha256, config.boxThreshold, config.textThreshold),
          requestId: req.id,
          queryId: req.queryId,
          image: { ...req.image, sha256: image.sha256, width, height, mediaType: image.mediaType },
          imageWidth: width,
          imageHeight: height,
          caption: r.caption,
          phrases: req.phrases,
          boxes: r.boxes,
          detector: { modelSha256: detector.modelSha256, layout: detector.layout, boxThreshold: config.boxThreshold, textThreshold: config.textThreshold },
          createdAt: ctx.clock.now(),
          lineage: lineageOf(ctx.node, [req.id, req.queryId], detector.versions, record.origin),
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
