// Label quality against a known ground truth: precision and recall of boxes at an IoU
// threshold, matched greedily by score within each category (the usual detection rule).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProposedBox } from '../models/detector/postprocess';
import type { GroundTruthRecord } from './synthetic-corpus';
import type { BBox } from './synthetic-scene';

/** A box with its label and score, as detectors and the verifier write them. */
export type ScoredBox = ProposedBox;

export interface Quality {
  boxes: number;
  objects: number;
  truePositives: number;
  precision: number;
  recall: number;
}

export function normalizeCategory(s: string): string {
  return s.toLowerCase().replace(/[-_]+/g, ' ').replace(/\s+/g, ' ').trim();
}

export function iou(a: BBox, b: BBox): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** True positives among `boxes` for one image: each object matches at most one box. */
export function matchImage(boxes: ScoredBox[], objects: Array<{ category: string; bbox: BBox }>, iouThreshold = 0.5): number {
  const used = new Set<number>();
  let tp = 0;
  for (const b of [...boxes].sort((x, y) => y.score - x.score)) {
    const cat = normalizeCategory(b.label);
    let best = -1;
    let bestIou = iouThreshold;
    objects.forEach((o, i) => {
      if (used.has(i) || normalizeCategory(o.category) !== cat) return;
      const v = iou([b.x1, b.y1, b.x2, b.y2], o.bbox);
      if (v >= bestIou) [best, bestIou] = [i, v];
    });
    if (best >= 0) {
      used.add(best);
      tp++;
    }
  }
  return tp;
}

/**
 * Sums over images. For each image the objects that count are those of the categories
 * that were asked for (`phrases`): a detector is not expected to find what it was not asked.
 */
export function labelQuality(items: Array<{ boxes: ScoredBox[]; phrases: string[]; truth: GroundTruthRecord }>, iouThreshold = 0.5): Quality {
  let boxes = 0;
  let objects = 0;
  let tp = 0;
  for (const it of items) {
    const asked = new Set(it.phrases.map(normalizeCategory));
    const objs = it.truth.objects.filter((o) => asked.has(normalizeCategory(o.category)));
    boxes += it.boxes.length;
    objects += objs.length;
    tp += matchImage(it.boxes, objs, iouThreshold);
  }
  return { boxes, objects, truePositives: tp, precision: boxes ? tp / boxes : 0, recall: objects ? tp / objects : 0 };
}

export function readGroundTruth(file: string): Map<string, GroundTruthRecord & { imagePath: string }> {
  const dir = path.dirname(file);
  const out = new Map<string, GroundTruthRecord & { imagePath: string }>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as GroundTruthRecord;
    out.set(r.id, { ...r, imagePath: path.resolve(dir, r.image) });
  }
  return out;
}

export function formatQuality(name: string, q: Quality): string {
  return `${name}: precision ${q.precision.toFixed(3)} recall ${q.recall.toFixed(3)} (${q.truePositives} true of ${q.boxes} boxes; ${q.objects} objects)`;
}
