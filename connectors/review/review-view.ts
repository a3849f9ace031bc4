// One merged record as the review page shows it: every box the training set has (accepted),
// every box the verifier rejected (with its stage and reason), and every box a person took
// out, each with the latest human action on it. The merged file already carries the verdicts
// applied at its last rebuild (`valor.human`); verdicts logged since (this server's, or a
// previous session's before the sink rebuilt) are applied on top with the same code the merge
// uses, so the page shows what the next rebuild will write.
import * as path from 'node:path';
import type { HumanVerdict } from '../../schemas/generated/types';
import type { OdvgRecord, ReviewMeta } from '../sinks/odvg';
import { applyVerdicts, type ReviewBox } from './apply-verdicts';

export type Stage = 'COARSE' | 'CROP' | 'FINAL';
export const STAGES: readonly Stage[] = ['COARSE', 'CROP', 'FINAL'];
type Bbox = [number, number, number, number];
type HumanEntry = NonNullable<ReviewMeta['human']>[number];

export interface BoxView {
  /** Stable across the box's status changes: 'a|cat|x1,y1,x2,y2' (VLM-accepted), 'n|…|STAGE' (VLM-rejected), 'h|…' (made by a person). */
  id: string;
  bbox: Bbox;
  category: string;
  status: 'accepted' | 'rejected';
  stage: Stage | null;
  reason: string | null;
  human: null | { action: string; reviewer: string; at: number; newLabel: string | null };
}

export interface RecordView {
  index: number;
  filename: string;
  imageUrl: string;
  sha256: string;
  width: number;
  height: number;
  queries: string[];
  pseudoLabels: string[];
  verifierVersions: string[];
  boxes: BoxView[];
}

/** What the VLM verifier had decided on a box before anyone touched it. */
export interface Origin {
  vlmDecision: 'ACCEPTED' | 'REJECTED' | 'NONE';
  rejectedAt: Stage | null;
}

export const boxKey = (category: string, bbox: readonly number[]): string => `${category}\0${bbox.join(',')}`;

/** Images are stored under their sha256: a filename's stem is how a verdict names its image. */
export const shaOfFilename = (filename: string): string => path.posix.basename(filename).replace(/\.[^.]+$/, '');

/**
 * Origins of the boxes people acted on, from this image's verdicts in time order: the first
 * verdict on a box recorded the verifier's decision before any person's. A relabel's result
 * and a drawn box are a person's (NONE), so later verdicts on them do not count as agreement.
 */
export function originsOf(verdicts: HumanVerdict[]): Map<string, Origin> {
  const out = new Map<string, Origin>();
  for (const v of verdicts) {
    const bbox = [v.box.x1, v.box.y1, v.box.x2, v.box.y2];
    const k = boxKey(v.box.category, bbox);
    if (!out.has(k)) out.set(k, { vlmDecision: v.vlmDecision, rejectedAt: v.rejectedAt });
    if (v.action === 'RELABEL' && v.newLabel && !out.has(boxKey(v.newLabel, bbox)))
      out.set(boxKey(v.newLabel, bbox), { vlmDecision: 'NONE', rejectedAt: null });
  }
  return out;
}

function idOf(category: string, bbox: readonly number[], o: Origin): string {
  const tail = `${category}|${bbox.join(',')}`;
  return o.vlmDecision === 'REJECTED' ? `n|${tail}|${o.rejectedAt ?? 'FINAL'}` : o.vlmDecision === 'NONE' ? `h|${tail}` : `a|${tail}`;
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const stageRank = (s: Stage | null): number => (s === null ? -1 : STAGES.indexOf(s));

/** The view of `record` with `verdicts` (this image's, in time order, already-applied ones included). */
export function recordView(record: OdvgRecord, index: number, verdicts: HumanVerdict[], labelOf: (category: string) => number | undefined): RecordView {
  const valor: ReviewMeta = record.valor ?? { pseudoLabels: [], queries: [], verifierVersions: [], negatives: [] };
  const instances: ReviewBox[] = record.detection
    ? record.detection.instances.map((i) => ({ category: i.category, bbox: i.bbox, label: i.label }))
    : (record.grounding?.regions ?? []).map((g) => ({ category: g.phrase, bbox: g.bbox, label: -1 }));
  const applied = new Set((valor.human ?? []).map((h) => h.id));
  const now = applyVerdicts(
    { boxes: instances, negatives: valor.negatives ?? [] },
    verdicts.filter((v) => !applied.has(v.id)),
    labelOf,
  );
  const latest = new Map<string, HumanEntry>();
  for (const h of [...(valor.human ?? []), ...now.applied]) {
    latest.set(boxKey(h.category, h.bbox), h);
    if (h.action === 'RELABEL' && h.newLabel) latest.set(boxKey(h.newLabel, h.bbox), h);
  }
  const origins = originsOf(verdicts);
  const humanOf = (k: string): BoxView['human'] => {
    const h = latest.get(k);
    return h ? { action: h.action, reviewer: h.reviewer, at: h.at, newLabel: h.newLabel } : null;
  };
  const boxes: BoxView[] = [];
  const shown = new Set<string>();
  for (const b of now.boxes) {
    const k = boxKey(b.category, b.bbox);
    shown.add(k);
    const o = origins.get(k) ?? { vlmDecision: 'ACCEPTED', rejectedAt: null };
    boxes.push({ id: idOf(b.category, b.bbox, o), bbox: b.bbox, category: b.category, status: 'accepted', stage: null, reason: null, human: humanOf(k) });
  }
  for (const n of now.negatives) {
    const k = boxKey(n.category, n.bbox);
    shown.add(k);
    const o: Origin = { vlmDecision: 'REJECTED', rejectedAt: n.stage };
    boxes.push({
      id: idOf(n.category, n.bbox, o),
      bbox: n.bbox,
      category: n.category,
      status: 'rejected',
      stage: n.stage,
      reason: n.reason,
      human: humanOf(k),
    });
  }
  // Boxes a person took out of the training set, no longer among the instances or negatives.
  for (const [k, h] of latest) {
    if (shown.has(k) || h.action !== 'REJECT') continue;
    shown.add(k);
    const o = origins.get(k) ?? { vlmDecision: 'ACCEPTED', rejectedAt: null };
    const stage = o.vlmDecision === 'REJECTED' ? o.rejectedAt : null;
    boxes.push({ id: idOf(h.category, h.bbox, o), bbox: h.bbox, category: h.category, status: 'rejected', stage, reason: null, human: humanOf(k) });
  }
  boxes.sort(
    (a, b) =>
      byString(a.status, b.status) ||
      byString(a.category, b.category) ||
      a.bbox[0] - b.bbox[0] ||
      a.bbox[1] - b.bbox[1] ||
      a.bbox[2] - b.bbox[2] ||
      a.bbox[3] - b.bbox[3] ||
      stageRank(a.stage) - stageRank(b.stage),
  );
  return {
    index,
    filename: record.filename,
    imageUrl: '/' + record.filename.split('/').map(encodeURIComponent).join('/'),
    sha256: shaOfFilename(record.filename),
    width: record.width,
    height: record.height,
    queries: valor.queries ?? [],
    pseudoLabels: valor.pseudoLabels ?? [],
    verifierVersions: valor.verifierVersions ?? [],
    boxes,
  };
}

/**
 * The VLM's decision on a box of a view, as a new verdict on it records it: a verifier negative
 * on show is REJECTED at its stage; otherwise the first verdict on the box recorded it; a box
 * nobody acted on yet is as the merged record has it.
 */
export function originOfBox(box: BoxView, verdicts: HumanVerdict[]): Origin {
  if (box.status === 'rejected' && box.stage && box.id.startsWith('n|')) return { vlmDecision: 'REJECTED', rejectedAt: box.stage };
  const known = originsOf(verdicts).get(boxKey(box.category, box.bbox));
  if (known) return known;
  return box.id.startsWith('h|') ? { vlmDecision: 'NONE', rejectedAt: null } : { vlmDecision: 'ACCEPTED', rejectedAt: null };
}

/** A box's filter tag: category id × 8 + 0 accepted, 1..3 rejected at COARSE/CROP/FINAL, 4 rejected by a person with no stage. */
export function tagOf(box: Pick<BoxView, 'status' | 'stage'>, categoryId: number): number {
  const code = box.status === 'accepted' ? 0 : box.stage ? 1 + STAGES.indexOf(box.stage) : 4;
  return categoryId * 8 + code;
}
