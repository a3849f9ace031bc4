// How the oracle judges boxes against the ground truth, stage by stage, and the reasons it
// gives in the words of the verifier prompts.
import { iou, normalizeCategory } from '../../evaluation/label-quality';
import type { BBox } from '../../evaluation/synthetic-scene';

export interface OracleObject {
  category: string;
  bbox: BBox;
}

/** One ground-truth image as the oracle knows it. */
export interface OracleImage {
  id: string;
  width: number;
  height: number;
  objects: OracleObject[];
  /** pixelFingerprint() of the image; without it the image is found by crop requests only. */
  fingerprint?: string;
}

/** A box as a request lists it: its number in the list, its label and its pixel box. */
export interface ListedBox {
  index: number;
  label: string;
  bbox: BBox;
}

/** Coarse review keeps a box that overlaps a same-category object at least this much. */
export const COARSE_KEEP_IOU = 0.5;
/** The crop stage is stricter: the object must fill the box well. */
export const CROP_KEEP_IOU = 0.7;
/** Final review matches boxes to objects at this IoU before removing duplicates. */
export const FINAL_MATCH_IOU = 0.5;
// Below this the box is not "on" the object at all (background or another object).
const TOUCH_IOU = 0.1;
// A box holding less of the object's area than this chops it; otherwise it is loose.
const CHOP_COVERAGE = 0.85;
export interface Decision {
  keep: boolean;
  reason: string;
}

interface Match {
  object: OracleObject;
  iou: number;
}

function bestMatch(b: ListedBox, objects: OracleObject[], sameCategory: boolean): Match | null {
  const cat = normalizeCategory(b.label);
  let best: Match | null = null;
  for (const o of objects) {
    if ((normalizeCategory(o.category) === cat) !== sameCategory) continue;
    const v = iou(b.bbox, o.bbox);
    if (!best || v > best.iou) best = { object: o, iou: v };
  }
  return best;
}

/** Share of the object's area inside the box: low when the box chops it. */
function coverage(b: BBox, o: BBox): number {
  const ix = Math.max(0, Math.min(b[2], o[2]) - Math.max(b[0], o[0]));
  const iy = Math.max(0, Math.min(b[3], o[3]) - Math.max(b[1], o[1]));
  const area = (o[2] - o[0]) * (o[3] - o[1]);
  return area > 0 ? (ix * iy) / area : 0;
}

/** Why a box that is not good enough was dropped, in the words of the prompts. */
function whyNot(b: ListedBox, same: Match | null, other: Match | null, stage: 'coarse' | 'crop'): string {
  if (other && other.iou >= COARSE_KEEP_IOU && (!same || other.iou > same.iou)) {
    return stage === 'crop' ? `wrong class: the dominant object is a ${other.object.category}` : `wrong label: this is a ${other.object.category}`;
  }
  if (same && same.iou >= TOUCH_IOU) {
    if (coverage(b.bbox, same.object.bbox) < CHOP_COVERAGE)
      return stage === 'crop' ? `too tight: the ${b.label} is truncated by the box` : `bad box: chops the ${b.label}`;
    return stage === 'crop' ? `too loose: the box has a lot of background around the ${b.label}` : `bad box: too loose around the ${b.label}`;
  }
  return stage === 'crop' ? `wrong class: no ${b.label} in the crop` : `no ${b.label} here: mostly background`;
}

export function judgeCoarse(b: ListedBox, objects: OracleObject[]): Decision {
  const same = bestMatch(b, objects, true);
  if (same && same.iou >= COARSE_KEEP_IOU) return { keep: true, reason: '' };
  return { keep: false, reason: whyNot(b, same, bestMatch(b, objects, false), 'coarse') };
}

/** The crop's image is one of `candidates`; judged on the one where the box fits best. */
export function judgeCrop(b: ListedBox, candidates: OracleImage[]): Decision {
  let same: Match | null = null;
  let other: Match | null = null;
  for (const img of candidates) {
    const s = bestMatch(b, img.objects, true);
    const o = bestMatch(b, img.objects, false);
    if (s && (!same || s.iou > same.iou)) same = s;
    if (o && (!other || o.iou > other.iou)) other = o;
  }
  if (same && same.iou >= CROP_KEEP_IOU) return { keep: true, reason: `clearly a ${b.label}` };
  return { keep: false, reason: whyNot(b, same, other, 'crop') };
}

/**
 * Final review: each box goes to its best same-category object (IoU >= FINAL_MATCH_IOU);
 * per object the box with the highest IoU stays (ties: the lower number) and the rest are
 * duplicates; boxes matching no object carry a wrong label.
 */
export function judgeFinal(boxes: ListedBox[], objects: OracleObject[]): Decision[] {
  const matched = boxes.map((b) => {
    const m = bestMatch(b, objects, true);
    return m && m.iou >= FINAL_MATCH_IOU ? m : null;
  });
  const winner = new Map<OracleObject, number>(); // object -> position in `boxes`
  matched.forEach((m, k) => {
    if (!m) return;
    const w = winner.get(m.object);
    if (w === undefined || m.iou > matched[w]!.iou || (m.iou === matched[w]!.iou && boxes[k]!.index < boxes[w]!.index)) winner.set(m.object, k);
  });
  return boxes.map((b, k) => {
    const m = matched[k];
    if (!m) {
      const other = bestMatch(b, objects, false);
      return {
        keep: false,
        reason: other && other.iou >= FINAL_MATCH_IOU ? `wrong label: this is a ${other.object.category}` : `wrong label: no ${b.label} here`,
      };
    }
    const w = winner.get(m.object)!;
    return w === k ? { keep: true, reason: '' } : { keep: false, reason: `duplicate of box ${boxes[w]!.index}` };
  });
}
