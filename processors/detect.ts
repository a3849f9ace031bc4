import { deterministicId } from '../core/ids';
import { lineageOf } from '../core/lineage';
import { BatchItem, perBatch } from '../core/per-batch';
import { defineProcessor, Emit, InputRecord } from '../core/processor';
import { detectConfig, detectorBackend, prepareForDetector, Prepared } from '../models/detector/detector-backend';
import { ImageIntake } from '../models/images/image-intake';
import type { DetectionRequest, DetectorProposals } from '../schemas/generated/types';

export { detectConfig, loadDetector } from '../models/detector/detector-backend';
export type { DetectConfig } from '../models/detector/detector-backend';

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
    await detectorBackend(ctx.resources, config);
  },
  create: (config, ctx) => {
    const intake = new ImageIntake(config.images);

    const prepareOne = async (rec: InputRecord<DetectionRequest>): Promise<Prepared> =>
      prepareForDetector(await intake.load(rec.value.image, ctx.signal), config);

    const infer = async (items: Array<BatchItem<DetectionRequest, Prepared>>): Promise<Emit[][]> => {
      const detector = await detectorBackend(ctx.resources, config); // loaded by prepare: the shared model
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
