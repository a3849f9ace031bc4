import type { DetectorProposals } from '../../schemas/generated/types';
import { normalizePhrase } from './caption';

/** A proposal box is exactly the Avro Box record it is written as. */
export type ProposedBox = DetectorProposals['boxes'][number];

export interface PostprocessInput {
  /** This item's logits, row-major [numQueries, logitWidth] (pre-sigmoid). */
  logits: Float32Array;
  /** This item's boxes, row-major [numQueries, 4], normalized cx, cy, w, h. */
  boxes: Float32Array;
  numQueries: number;
  logitWidth: number;
  /** The item's token ids (unpadded); only these positions are read. */
  ids: number[];
  boxThreshold: number;
  textThreshold: number;
  /** Prompt parts as in the caption ("red-circle") and the labels to emit for them. */
  parts: string[];
  labels: string[];
  decode: (ids: number[]) => string;
  /** Original image size: boxes are scaled to it. */
  width: number;
  height: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * GroundingDINO's post-processing, as VALOR's mining uses it: keep a query when its best
 * token score passes the box threshold; its phrase is the decoded tokens scoring over
 * the text threshold (never [CLS], as get_phrases_from_posmap does); keep the box only if
 * that phrase is one of the prompt parts; convert cx,cy,w,h to absolute xyxy.
 */
export function postprocess(p: PostprocessInput): ProposedBox[] {
  const byPhrase = new Map(p.parts.map((part, i) => [normalizePhrase(part), p.labels[i]!]));
  const T = Math.min(p.ids.length, p.logitWidth);
  const lastPhraseToken = Math.min(T, 255); // get_phrases_from_posmap's right_idx
  const out: ProposedBox[] = [];
  for (let q = 0; q < p.numQueries; q++) {
    const row = q * p.logitWidth;
    let best = -Infinity;
    for (let t = 0; t < T; t++) best = Math.max(best, p.logits[row + t]!);
    const score = sigmoid(best);
    if (!(score > p.boxThreshold)) continue;
    const picked: number[] = [];
    for (let t = 1; t < lastPhraseToken; t++) if (sigmoid(p.logits[row + t]!) > p.textThreshold) picked.push(p.ids[t]!);
    if (picked.length === 0) continue;
    const label = byPhrase.get(normalizePhrase(p.decode(picked)));
    if (label === undefined) continue;
    const [cx, cy, w, h] = [p.boxes[q * 4]!, p.boxes[q * 4 + 1]!, p.boxes[q * 4 + 2]!, p.boxes[q * 4 + 3]!];
    out.push({
      x1: (cx - w / 2) * p.width,
      y1: (cy - h / 2) * p.height,
      x2: (cx + w / 2) * p.width,
      y2: (cy + h / 2) * p.height,
      label,
      score,
    });
  }
  return out;
}
