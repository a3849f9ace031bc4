// The configured detector behind one interface (GroundingDINO on onnxruntime-node, or the
// simulated detector of a synthetic corpus), shared through the runtime's resources: the
// detect node proposes with it at mining thresholds, the answer node's gd_detect tool at
// inference thresholds.
import { z } from 'zod';
import { loadedKind, resourceKind, Resources } from '../../core/resources';
import { retryPolicySchema } from '../../core/retry';
import { imageIntakeConfig, LoadedImage } from '../images/image-intake';
import { preprocessImage, type Preprocessed } from '../images/preprocess';
import { EXECUTION_PROVIDERS } from './execution-providers';
import { DetectResult, GroundingDino } from './grounding-dino';
import { SimulatedDetector } from './simulated-detector';

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
const DETECTORS = loadedKind<GroundingDino>('detector');

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
  return resources.load(DETECTORS, key, () => GroundingDino.load(c)); // a failed load: the next node or start-up tries again
}

const SIMULATED = resourceKind<SimulatedDetector>('simulated-detector', () => undefined);

/** The configured detector behind one interface: what it is called and how it runs a batch. */
export interface DetectorBackend {
  modelSha256: string;
  layout: string;
  versions: Record<string, string>;
  run(items: Array<{ prepared: Prepared; phrases: string[] }>): Promise<DetectResult[]>;
}

export async function detectorBackend(resources: Resources, c: DetectConfig): Promise<DetectorBackend> {
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
export type Prepared = { image: LoadedImage; pre: Preprocessed | null };

/** A loaded image as the configured detector takes it: as it is (simulated), or as the model's tensor. */
export async function prepareForDetector(image: LoadedImage, c: DetectConfig): Promise<Prepared> {
  if (c.kind === 'simulated') return { image, pre: null };
  return { image, pre: await preprocessImage(image.bytes, c.resize, c.images.maxPixels, image.source) };
}
