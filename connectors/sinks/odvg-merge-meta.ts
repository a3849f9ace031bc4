// The review metadata of a merged record: the union of its per-query lines' `valor` keys
// (pseudo-labels, queries, verifier versions, hard negatives). Output order is sorted, not
// arrival order, so the merged file is byte-identical however the shards were folded.
import type { ReviewMeta, ReviewNegative } from './odvg';

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const STAGES = new Set(['COARSE', 'CROP', 'FINAL']);

export class MetaUnion {
  private readonly pseudoLabels = new Set<string>();
  private readonly queries = new Set<string>();
  private readonly versions = new Set<string>();
  /** By category, bbox and stage; the smallest reason is kept so the choice does not depend on fold order. */
  private readonly negatives = new Map<string, ReviewNegative>();

  /** Folds a line's `valor` key in; lines written before it existed have none. */
  add(raw: unknown): void {
    if (!raw || typeof raw !== 'object') return;
    const m = raw as Partial<ReviewMeta>;
    for (const id of m.pseudoLabels ?? []) if (typeof id === 'string') this.pseudoLabels.add(id);
    for (const q of m.queries ?? []) if (typeof q === 'string') this.queries.add(q);
    for (const v of m.verifierVersions ?? []) if (typeof v === 'string') this.versions.add(v);
    for (const n of m.negatives ?? []) {
      if (!n || typeof n.category !== 'string' || !Array.isArray(n.bbox) || n.bbox.length !== 4 || !STAGES.has(n.stage)) continue;
      const key = `${n.category}\0${n.bbox.join(',')}\0${n.stage}`;
      const had = this.negatives.get(key);
      const reason = typeof n.reason === 'string' ? n.reason : null;
      if (!had || (reason !== null && (had.reason === null || reason < had.reason)))
        this.negatives.set(key, { bbox: n.bbox, category: n.category, stage: n.stage, reason });
    }
  }

  /** The merged metadata; `negatives` are those still given (after accepted boxes and people's verdicts). */
  meta(negatives: ReviewNegative[] = this.allNegatives(), human?: ReviewMeta['human']): ReviewMeta {
    return {
      pseudoLabels: [...this.pseudoLabels].sort(byString),
      queries: [...this.queries].sort(byString),
      verifierVersions: [...this.versions].sort(byString),
      negatives,
      ...(human && human.length ? { human } : {}),
    };
  }

  allNegatives(): ReviewNegative[] {
    return [...this.negatives.values()].sort(
      (a, b) =>
        byString(a.category, b.category) ||
        a.bbox[0] - b.bbox[0] ||
        a.bbox[1] - b.bbox[1] ||
        a.bbox[2] - b.bbox[2] ||
        a.bbox[3] - b.bbox[3] ||
        byString(a.stage, b.stage),
    );
  }
}
