import { bufferCount, concatMap, from, lastValueFrom, mergeMap } from 'rxjs';
import { z } from 'zod';
import { deterministicId } from '../core/ids';
import { lineageOf } from '../core/lineage';
import { defineProcessor, InputRecord, Outcome } from '../core/processor';
import { AttemptsExhausted, retryPolicySchema, withRetry } from '../core/retry';
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
    resize: z.object({ shortSide: z.number().int().min(16).default(800), maxSize: z.number().int().min(16).default(1333) }).strict().prefault({}),
    intraOpThreads: z.number().int().min(1).optional(),
    images: imageIntakeConfig.prefault({}),
    retry: retryPolicySchema.prefault({}),
  })
  .strict();
export type DetectConfig = z.infer<typeof detectConfig>;

// One loaded model per distinct model/tokenizer/threshold set in a process.
const loaded = new Map<string, Promise<GroundingDino>>();
export function loadDetector(c: DetectConfig): Promise<GroundingDino> {
  const key = JSON.stringify([c.modelPath, c.tokenizerPath, c.boxThreshold, c.textThreshold, c.batchSize, c.maxTextLen, c.intraOpThreads]);
  let d = loaded.get(key);
  if (!d) {
    d = GroundingDino.load(c);
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
export const detect = defineProcessor({
  kind: 'detect',
  description: 'GroundingDINO (ONNX) proposals at low thresholds for each detection request',
  input: 'DetectionRequest',
  outputs: { proposals: 'DetectorProposals' },
  config: detectConfig,
  prepare: async (config) => {
    await loadDetector(config);
  },
  create: (config, ctx) => {
    const intake = new ImageIntake(config.images);
    const resize = config.resize;

    const prepareOne = async (rec: InputRecord<DetectionRequest>): Promise<{ image: LoadedImage; pre: Preprocessed }> => {
      const image = await intake.load(rec.value.image, ctx.signal);
      return { image, pre: await preprocessImage(image.bytes, resize, config.images.maxPixels, image.source) };
    };

    const runBatch = async (batch: Array<InputRecord<DetectionRequest>>): Promise<Array<Outcome<DetectionRequest>>> => {
      const detector = await loadDetector(config);
      const prepared = await Promise.all(
        batch.map(async (rec) => {
          try {
            return { rec, ok: await lastValueFrom(withRetry(() => prepareOne(rec), config.retry, ctx.scheduler)) };
          } catch (err) {
            const e = err instanceof AttemptsExhausted ? err : new AttemptsExhausted(err, 1);
            return { rec, failure: { error: e.lastError, attempts: e.attempts } };
          }
        }),
      );
      const ready = prepared.filter((p) => p.ok);
      let results: Awaited<ReturnType<GroundingDino['detect']>> = [];
      let inferenceError: unknown;
      try {
        results = ready.length ? await detector.detect(ready.map((p) => ({ image: p.ok!.pre, phrases: p.rec.value.phrases }))) : [];
      } catch (err) {
        inferenceError = err;
      }
      const versions = {
        'detector.modelSha256': detector.modelSha256,
        'detector.layout': detector.layout,
        'detector.tokenizerSha256': detector.tokenizer.sha256,
        'detector.boxThreshold': String(config.boxThreshold),
        'detector.textThreshold': String(config.textThreshold),
      };
      return prepared.map((p): Outcome<DetectionRequest> => {
        if (!p.ok) return { input: p.rec, outputs: [], failure: p.failure };
        if (inferenceError !== undefined) return { input: p.rec, outputs: [], failure: { error: inferenceError, attempts: 1 } };
        const r = results[ready.indexOf(p)]!;
        const req = p.rec.value;
        const { image, pre } = p.ok;
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
          lineage: lineageOf(ctx.node, [req.id, req.queryId], versions, p.rec.origin),
        };
        return { input: p.rec, outputs: [{ port: 'proposals', key: req.queryId, value }] };
      });
    };

    return (input$) =>
      input$.pipe(
        bufferCount(config.batchSize),
        concatMap((batch) => from(runBatch(batch))),
        mergeMap((outcomes) => from(outcomes)),
      );
  },
});
