// Open-GroundingDino's ODVG format (method, Loop 1 step 5). One JSON object per line:
//   OD: {"filename", "height", "width", "detection": {"instances": [{"bbox", "label", "category"}]}}
//   VG: {"filename", "height", "width", "grounding": {"caption", "regions": [{"bbox", "phrase"}]}}
// bbox is absolute-pixel xyxy, rounded to integers and clamped to [0, W-1] x [0, H-1] as the
// reference does; `label` indexes label_map.json; `category` is lowercased, '-' -> ' ',
// whitespace collapsed. The loader reads filename, bbox and label in OD mode and crashes on
// an empty `regions` list in VG mode, so such records are never written.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PseudoLabel } from '../../schemas/generated/types';

export type OdvgMode = 'od' | 'vg';

export interface OdvgInstance {
  bbox: [number, number, number, number];
  label: number;
  category: string;
}

/** A box the verifier rejected, kept for review: where, what, which stage and why. */
export interface ReviewNegative {
  bbox: [number, number, number, number];
  category: string;
  stage: 'COARSE' | 'CROP' | 'FINAL';
  reason: string | null;
}

/**
 * What a line carries for review beyond ODVG (Open-GroundingDino's loader reads only
 * filename, height, width, detection/grounding, so the extra key rides along unread): the
 * pseudo-label(s) and verifier version(s) behind the record and its hard negatives. Per-query
 * lines name one pseudo-label; merged records name every one on the image.
 */
export interface ReviewMeta {
  pseudoLabels: string[];
  queries: string[];
  verifierVersions: string[];
  negatives: ReviewNegative[];
  /** Merged records: the human verdicts applied, in the order applied. */
  human?: Array<{
    id: string;
    action: string;
    reviewer: string;
    at: number;
    category: string;
    bbox: [number, number, number, number];
    newLabel: string | null;
  }>;
}

export interface OdvgRecord {
  filename: string;
  height: number;
  width: number;
  detection?: { instances: OdvgInstance[] };
  grounding?: { caption: string; regions: Array<{ bbox: [number, number, number, number]; phrase: string }> };
  valor?: ReviewMeta;
}

/** A pseudo-label's review metadata: its ids, version, and negatives in the dataset's box convention. */
export function reviewMetaOf(p: PseudoLabel): ReviewMeta {
  const negatives: ReviewNegative[] = [];
  for (const n of p.negatives) {
    const bbox = odvgBox(n.box, p.width, p.height);
    const category = normalizeCategory(n.box.label);
    if (bbox && category) negatives.push({ bbox, category, stage: n.rejectedAt, reason: n.reason ?? null });
  }
  return { pseudoLabels: [p.id], queries: [p.queryId], verifierVersions: [p.verifierVersion], negatives };
}

export function normalizeCategory(label: string): string {
  return label.toLowerCase().replace(/-/g, ' ').replace(/\s+/g, ' ').trim();
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Integer xyxy inside the image; null when nothing of the box is left. */
export function odvgBox(b: { x1: number; y1: number; x2: number; y2: number }, width: number, height: number): [number, number, number, number] | null {
  const x1 = clamp(Math.round(b.x1), 0, width - 1);
  const y1 = clamp(Math.round(b.y1), 0, height - 1);
  const x2 = clamp(Math.round(b.x2), 0, width - 1);
  const y2 = clamp(Math.round(b.y2), 0, height - 1);
  return x2 > x1 && y2 > y1 ? [x1, y1, x2, y2] : null;
}

/** Categories a pseudo-label needs ids for, in order of first appearance. */
export function categoriesOf(p: PseudoLabel): string[] {
  return [...new Set(p.accepted.map((b) => normalizeCategory(b.label)).filter(Boolean))];
}

/**
 * The record's de-duplication signature: SHA-1 of its canonical JSON (filename, size and
 * the sorted (category, bbox) pairs), as the reference does, so re-runs are idempotent.
 */
export function odvgSignature(filename: string, width: number, height: number, pairs: Array<[string, number[]]>): string {
  const sorted = [...pairs].sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1].join(',') < b[1].join(',') ? -1 : a[1].join(',') > b[1].join(',') ? 1 : 0,
  );
  return createHash('sha1')
    .update(JSON.stringify({ filename, width, height, boxes: sorted }))
    .digest('hex');
}

export interface OdvgLine {
  record: OdvgRecord;
  signature: string;
}

/**
 * The ODVG line for one pseudo-label, or null when there is nothing to write: no accepted
 * box and negatives are skipped, or VG mode (which cannot express an image with no region).
 */
export function toOdvg(
  p: PseudoLabel,
  filename: string,
  labelIds: Map<string, number>,
  opts: { mode: OdvgMode; keepNegativeOnly: boolean; caption?: string },
): OdvgLine | null {
  const { width, height } = p;
  const boxes = p.accepted
    .map((b) => ({ category: normalizeCategory(b.label), bbox: odvgBox(b, width, height) }))
    .filter((b): b is { category: string; bbox: [number, number, number, number] } => b.bbox !== null && b.category !== '');
  const pairs = boxes.map((b): [string, number[]] => [b.category, b.bbox]);
  const signature = odvgSignature(filename, width, height, pairs);
  if (opts.mode === 'vg') {
    if (boxes.length === 0) return null;
    const caption = opts.caption ?? vgCaption(boxes.map((b) => b.category));
    return {
      signature,
      record: { filename, height, width, grounding: { caption, regions: boxes.map((b) => ({ bbox: b.bbox, phrase: b.category })) }, valor: reviewMetaOf(p) },
    };
  }
  if (boxes.length === 0 && !opts.keepNegativeOnly) return null;
  const instances = boxes.map((b) => {
    const label = labelIds.get(b.category);
    if (label === undefined) throw new Error(`no label id for category '${b.category}' (the label registry must assign it first)`);
    return { bbox: b.bbox, label, category: b.category };
  });
  return { signature, record: { filename, height, width, detection: { instances }, valor: reviewMetaOf(p) } };
}

/** A VG caption: the distinct phrases in order of first appearance, as ' . '-separated names. */
export function vgCaption(phrases: string[]): string {
  return [...new Set(phrases)].join(' . ') + ' .';
}

/** label_map.json: string keys, as the loader indexes it. */
export function labelMapJson(labels: string[]): string {
  return JSON.stringify(Object.fromEntries(labels.map((l, i) => [String(i), l])), null, 2) + '\n';
}

/** The categories of a label_map.json, by id; throws unless the keys are exactly 0..n-1. */
export function parseLabelMap(text: string): string[] {
  const map: unknown = JSON.parse(text);
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error('a label map must be a JSON object');
  const entries = Object.entries(map as Record<string, unknown>);
  const labels = new Array<string>(entries.length);
  for (const [k, v] of entries) {
    const id = Number(k);
    if (String(id) !== k || id >= entries.length || typeof v !== 'string' || labels[id] !== undefined)
      throw new Error(`label map entry '${k}': keys must be the ids 0..${entries.length - 1} and values category names`);
    labels[id] = v;
  }
  return labels;
}

export interface DatasetEntry {
  root: string;
  anno: string;
  /** null: a VG (grounding) dataset, which the loader reads without a label map. */
  label_map: string | null;
  dataset_mode: 'odvg';
}

/** One `train` entry of the dataset json: a shard, its image root and label map. */
export function datasetEntry(root: string, anno: string, labelMap: string | null): DatasetEntry {
  return { root, anno, label_map: labelMap, dataset_mode: 'odvg' };
}

/** The dataset json Open-GroundingDino's config points at. */
export function datasetJson(train: DatasetEntry[]): string {
  return JSON.stringify({ train }, null, 2) + '\n';
}

/** The boxes of an ODVG line as read back (OD instances or VG regions), each with its name. */
export function odvgLineBoxes(r: OdvgRecord): Array<{ x1: number; y1: number; x2: number; y2: number; label: string }> {
  const named = r.detection?.instances ?? r.grounding?.regions.map((g) => ({ bbox: g.bbox, category: g.phrase })) ?? [];
  return named.map(({ bbox: [x1, y1, x2, y2], category }) => ({ x1, y1, x2, y2, label: category }));
}

/**
 * The train entries of a dataset directory's dataset.json, with `anno` made absolute; [] when
 * there is no dataset.json yet. One reader for everything that follows the index to the files
 * training reads (the demo's quality check and previews, the run's dataset digest).
 */
export function readTrainEntries(datasetDir: string): DatasetEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(datasetDir, 'dataset.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const train = (JSON.parse(text) as { train?: DatasetEntry[] }).train ?? [];
  return train.map((e) => ({ ...e, anno: path.isAbsolute(e.anno) ? e.anno : path.join(datasetDir, e.anno) }));
}
