// A person's decisions applied to one image of the training set. Verdicts apply in time
// order, each one once (by id), and each is idempotent on the state it meets: rejecting a
// box that is gone, or accepting one that is in, changes nothing. A person overrides the VLM
// verifier: a rejected box leaves the instances whatever the verifier said, and a restored
// or drawn box joins them. The record keeps what was applied (`valor.human`) for review.
import type { HumanVerdict } from '../../schemas/generated/types';
import type { ReviewMeta, ReviewNegative } from '../sinks/odvg';

type Bbox = [number, number, number, number];

export interface ReviewBox {
  category: string;
  bbox: Bbox;
  /** Label id (OD); -1 in VG mode. */
  label: number;
}

export interface ImageBoxes {
  boxes: ReviewBox[];
  negatives: ReviewNegative[];
}

const keyOf = (category: string, bbox: readonly number[]) => `${category}\0${bbox.join(',')}`;

/**
 * `image` after `verdicts` (already this image's, in order). `labelOf` gives a category's
 * label id, or undefined when the label map has none: a box may only become a category the
 * training set knows (the review page offers those), so such a verdict is skipped and
 * reported in `skipped`.
 */
export function applyVerdicts(
  image: ImageBoxes,
  verdicts: HumanVerdict[],
  labelOf: (category: string) => number | undefined,
): ImageBoxes & { applied: NonNullable<ReviewMeta['human']>; skipped: Array<{ id: string; why: string }> } {
  const boxes = new Map(image.boxes.map((b) => [keyOf(b.category, b.bbox), b]));
  const applied: NonNullable<ReviewMeta['human']> = [];
  const skipped: Array<{ id: string; why: string }> = [];
  const seen = new Set<string>();
  for (const v of verdicts) {
    if (seen.has(v.id)) continue;
    seen.add(v.id);
    const bbox: Bbox = [v.box.x1, v.box.y1, v.box.x2, v.box.y2];
    const key = keyOf(v.box.category, bbox);
    const put = (category: string): boolean => {
      const label = labelOf(category);
      if (label === undefined) {
        skipped.push({ id: v.id, why: `category '${category}' is not in the label map` });
        return false;
      }
      boxes.set(keyOf(category, bbox), { category, bbox, label });
      return true;
    };
    let ok = true;
    if (v.action === 'REJECT') boxes.delete(key);
    else if (v.action === 'ACCEPT' || v.action === 'ADD') ok = boxes.has(key) || put(v.box.category);
    else if (v.action === 'RELABEL') {
      ok = put(v.newLabel!);
      if (ok && v.newLabel !== v.box.category) boxes.delete(key);
    }
    if (ok) applied.push({ id: v.id, action: v.action, reviewer: v.reviewer, at: v.at, category: v.box.category, bbox, newLabel: v.newLabel ?? null });
  }
  // A box people put back is no longer a negative; one they rejected stays listed as the verifier left it.
  const negatives = image.negatives.filter((n) => !boxes.has(keyOf(n.category, n.bbox)));
  return { boxes: [...boxes.values()], negatives, applied, skipped };
}
