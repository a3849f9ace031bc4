// A simulated low-threshold open-vocabulary detector over a corpus whose boxes are known.
// No real weights can be downloaded on every machine this project runs on (CI, the demo),
// and the stand-in ONNX model has GroundingDINO's interface but random weights, so its boxes
// say nothing. This detector looks each image up by content hash in the ground truth and
// proposes what a low-threshold GroundingDINO does: a tight box per object asked for, plus
// loose, chopped, duplicate, wrong-label and background boxes (evaluation/synthetic-proposals),
// scored so that true boxes score high and junk low. Its proposals say so in their lineage.
import * as fs from 'node:fs';
import { ConfigError, ValidationError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import { readGroundTruth } from '../../evaluation/label-quality';
import type { GroundTruthRecord } from '../../evaluation/synthetic-corpus';
import { simulateDetections } from '../../evaluation/synthetic-proposals';
import type { ProposedBox } from './postprocess';
import { buildCaption } from './caption';

export interface SimulatedDetectorOptions {
  /** ground-truth.jsonl of a synthetic corpus (`valor-stream corpus` writes it). */
  groundTruth: string;
  seed: number;
  boxThreshold: number;
  textThreshold: number;
}

export interface SimulatedItem {
  /** sha256 of the image bytes: how the image is found in the ground truth. */
  sha256: string;
  phrases: string[];
}

export class SimulatedDetector {
  /** Stands where the ONNX model's hash goes: the ground truth and seed define the output. */
  readonly modelSha256: string;
  readonly layout = 'simulated';

  private constructor(
    private readonly byHash: Map<string, GroundTruthRecord>,
    truthSha: string,
    readonly opts: SimulatedDetectorOptions,
  ) {
    this.modelSha256 = sha256Hex(`simulated:${truthSha}:${opts.seed}`);
  }

  static load(opts: SimulatedDetectorOptions): SimulatedDetector {
    let text: string;
    try {
      text = fs.readFileSync(opts.groundTruth, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read the simulated detector's ground truth at '${opts.groundTruth}' (nodes.detect.groundTruth): ${(err as Error).message}. ` +
          '`valor-stream corpus` writes one next to the corpus.',
      );
    }
    const byHash = new Map<string, GroundTruthRecord>();
    for (const t of readGroundTruth(opts.groundTruth).values()) {
      try {
        byHash.set(sha256Hex(fs.readFileSync(t.imagePath)), t);
      } catch (err) {
        throw new ConfigError(`simulated detector: image ${t.imagePath} of ${opts.groundTruth} is unreadable: ${(err as Error).message}`);
      }
    }
    return new SimulatedDetector(byHash, sha256Hex(text), opts);
  }

  get images(): number {
    return this.byHash.size;
  }

  /** Boxes above both thresholds, highest score first; an image not in the ground truth is a bad record. */
  detect(item: SimulatedItem): { caption: string; boxes: ProposedBox[] } {
    const truth = this.byHash.get(item.sha256);
    if (!truth) {
      throw new ValidationError(
        `image sha256 ${item.sha256.slice(0, 12)}… is not in the simulated detector's ground truth (${this.opts.groundTruth}); ` +
          'the simulated detector only knows the synthetic corpus (nodes.detect.kind: onnx runs a real model)',
      );
    }
    const { caption, labels } = buildCaption(item.phrases);
    const boxes = simulateDetections(truth, labels, this.opts.seed)
      .filter((b) => b.score >= this.opts.boxThreshold && b.textScore >= this.opts.textThreshold)
      .map(({ x1, y1, x2, y2, label, score }) => ({ x1, y1, x2, y2, label, score }));
    return { caption, boxes };
  }
}
