// The review server's state: the merged training set as an index over its file (see
// review-index.ts), the verdict log, and the per-class counts. The merged file is opened once
// and read through that one descriptor, so a sink that rewrites it meanwhile (an atomic
// rename) leaves this server on the snapshot its index describes; verdicts logged after the
// snapshot are applied on top of it (review-view.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HumanVerdict } from '../../schemas/generated/types';
import { parseLabelMap, type OdvgRecord } from '../sinks/odvg';
import { LABEL_MAP_FILE } from '../sinks/odvg-format';
import { MERGED_FILE } from '../sinks/odvg-merge';
import type { HumanVerdictLog } from './human-verdicts';
import { verdictsByImage } from './human-verdicts';
import { ReviewIndex, type IndexFilter } from './review-index';
import { HttpError, type RecordQuery } from './review-input';
import { forEachLine } from './review-lines';
import { boxKey, recordView, shaOfFilename, STAGES, tagOf, type BoxView, type RecordView } from './review-view';

export interface CategoryCounts {
  name: string;
  /** Its label id in label_map.json; null for a category only rejected boxes have. */
  label: number | null;
  /** Boxes in the training set (people's included). */
  accepted: number;
  /** Verifier negatives still rejected, by the stage that rejected them. */
  rejected: { COARSE: number; CROP: number; FINAL: number };
  /** Boxes people took out that the verifier had accepted. */
  humanRejected: number;
  /** Boxes in the training set that people drew or relabelled into this category. */
  humanAdded: number;
}

export interface Summary {
  dataset: string;
  records: number;
  images: number;
  reviewer: string;
  mode: 'od' | 'vg';
  /** The categories a box may be relabelled to or drawn as. */
  labels: string[];
  categories: CategoryCounts[];
  verifierVersions: string[];
  stages: readonly string[];
  /** The default seed of audit samples (fixed per server start). */
  auditSeed: number;
  verdicts: number;
}

export interface RecordPage {
  total: number;
  offset: number;
  limit: number;
  items: RecordView[];
  /** The seed of the audit order (audit=1 only). */
  seed?: number;
}

const byTime = (a: HumanVerdict, b: HumanVerdict) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class ReviewStore {
  readonly index = new ReviewIndex();
  /** Counts by category id. */
  private readonly counts: Array<Omit<CategoryCounts, 'name' | 'label'>> = [];
  private images = 0;
  /** Every verdict in the log, in the order written; and by image sha256, in time order. */
  readonly verdicts: HumanVerdict[] = [];
  readonly byImage = new Map<string, HumanVerdict[]>();
  /** Bumped by every verdict: cached filter results of an older generation are stale. */
  private generation = 0;
  private readonly cache = new Map<string, Uint32Array>();
  /** Records whose image has verdicts in the log: their view may differ from their line. */
  private readonly touched = new Set<number>();
  mode: 'od' | 'vg' = 'od';
  labels: string[] = [];
  private labelIds = new Map<string, number>();

  private constructor(
    readonly datasetDir: string,
    private readonly fh: fs.promises.FileHandle,
    readonly log: HumanVerdictLog,
    readonly auditSeed: number,
  ) {}

  /** Opens `<datasetDir>/merged/train.odvg.jsonl` and scans it once into the index. */
  static async open(datasetDir: string, log: HumanVerdictLog, auditSeed: number): Promise<ReviewStore> {
    const file = path.join(datasetDir, MERGED_FILE);
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new Error(`${datasetDir} has no merged training set (${MERGED_FILE}): build it with \`valor-stream export odvg --dataset ${datasetDir}\``, {
        cause: err,
      });
    }
    const store = new ReviewStore(datasetDir, fh, log, auditSeed);
    try {
      await store.load();
    } catch (err) {
      await fh.close();
      throw err;
    }
    return store;
  }

  private async load(): Promise<void> {
    let labelText: string | null = null;
    try {
      labelText = await fs.promises.readFile(path.join(this.datasetDir, LABEL_MAP_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.labels = labelText ? parseLabelMap(labelText) : [];
    this.labelIds = new Map(this.labels.map((l, i) => [l, i]));
    for (const l of this.labels) this.index.categoryId(l); // label-map categories first, in id order
    for (const v of await this.log.all()) this.verdicts.push(v);
    for (const [sha, list] of verdictsByImage(this.verdicts)) this.byImage.set(sha, list);
    let first = true;
    let previous = '';
    await forEachLine(this.fh, (offset, bytes, lineNo) => {
      let r: OdvgRecord;
      try {
        r = JSON.parse(bytes.toString('utf8')) as OdvgRecord;
      } catch (err) {
        throw new Error(`${path.join(this.datasetDir, MERGED_FILE)}:${lineNo}: not JSON`, { cause: err });
      }
      if (typeof r?.filename !== 'string' || !Number.isInteger(r.width) || !Number.isInteger(r.height))
        throw new Error(`${path.join(this.datasetDir, MERGED_FILE)}:${lineNo}: not an ODVG record`);
      if (first) this.mode = r.grounding && !r.detection ? 'vg' : 'od';
      first = false;
      const i = this.index.size;
      if (this.byImage.has(shaOfFilename(r.filename))) this.touched.add(i);
      // Most records nobody has reviewed: their boxes are their line's, without building a view.
      const boxes = this.touched.has(i) || r.valor?.human?.length ? this.viewOf(r, i).boxes : plainBoxes(r);
      this.index.add(
        offset,
        bytes.length,
        this.tagsOf(boxes),
        (r.valor?.verifierVersions ?? []).map((v) => this.index.versionId(v)),
      );
      this.count(boxes, 1);
      // One record per image, sorted by filename: a new filename is a new image.
      if (r.filename !== previous) this.images++;
      previous = r.filename;
    });
  }

  labelOf = (category: string): number | undefined => (this.mode === 'vg' ? -1 : this.labelIds.get(category));

  /** Categories a box may become: the label map's (OD), or every phrase seen (VG, which has none). */
  knows(category: string): boolean {
    return this.mode === 'vg' ? this.index.categoryId(category, false) >= 0 : this.labelIds.has(category);
  }

  viewOf(r: OdvgRecord, index: number): RecordView {
    return recordView(r, index, this.byImage.get(shaOfFilename(r.filename)) ?? [], this.labelOf);
  }

  private tagsOf(boxes: TaggedBox[]): number[] {
    return boxes.map((b) => tagOf(b, this.index.categoryId(b.category)));
  }

  private count(boxes: TaggedBox[], sign: 1 | -1): void {
    for (const b of boxes) {
      const id = this.index.categoryId(b.category);
      const c = (this.counts[id] ??= { accepted: 0, rejected: { COARSE: 0, CROP: 0, FINAL: 0 }, humanRejected: 0, humanAdded: 0 });
      if (b.status === 'accepted') {
        c.accepted += sign;
        if (b.id.startsWith('h|')) c.humanAdded += sign;
      } else if (b.stage) c.rejected[b.stage] += sign;
      else c.humanRejected += sign;
    }
  }

  async readRecord(i: number): Promise<OdvgRecord> {
    const { offset, length } = this.index.line(i);
    const buf = Buffer.alloc(length);
    await this.fh.read(buf, 0, length, offset);
    return JSON.parse(buf.toString('utf8')) as OdvgRecord;
  }

  async record(i: number): Promise<RecordView> {
    if (!(Number.isInteger(i) && i >= 0 && i < this.index.size)) throw new HttpError(404, `no record ${i} (the set has ${this.index.size})`);
    return this.viewOf(await this.readRecord(i), i);
  }

  /** Takes a logged verdict into the views, the index and the counts. */
  async applied(v: HumanVerdict, index: number, before: RecordView): Promise<RecordView> {
    this.verdicts.push(v);
    const list = this.byImage.get(v.imageSha256) ?? [];
    list.push(v);
    list.sort(byTime);
    this.byImage.set(v.imageSha256, list);
    this.touched.add(index);
    const after = this.viewOf(await this.readRecord(index), index);
    this.count(before.boxes, -1);
    this.count(after.boxes, 1);
    this.index.set(
      index,
      this.tagsOf(after.boxes),
      after.verifierVersions.map((x) => this.index.versionId(x)),
    );
    this.generation++;
    this.cache.clear();
    return after;
  }

  summary(reviewer: string): Summary {
    return {
      dataset: this.datasetDir,
      records: this.index.size,
      images: this.images,
      reviewer,
      mode: this.mode,
      labels: this.labels,
      categories: this.index.categories.map((name, id) => ({
        name,
        label: this.labelIds.get(name) ?? null,
        ...(this.counts[id] ?? { accepted: 0, rejected: { COARSE: 0, CROP: 0, FINAL: 0 }, humanRejected: 0, humanAdded: 0 }),
      })),
      verifierVersions: [...this.index.versions].sort(),
      stages: STAGES,
      auditSeed: this.auditSeed,
      verdicts: this.verdicts.length,
    };
  }

  async records(q: RecordQuery): Promise<RecordPage> {
    const seed = q.audit ? (q.seed ?? this.auditSeed) : undefined;
    const matching = await this.matching(q, seed);
    const items: RecordView[] = [];
    for (const i of matching.subarray(q.offset, q.offset + q.limit)) items.push(await this.record(i));
    return { total: matching.length, offset: q.offset, limit: q.limit, items, ...(seed !== undefined ? { seed } : {}) };
  }

  private async matching(q: RecordQuery, seed: number | undefined): Promise<Uint32Array> {
    const key = JSON.stringify([q.category, q.status, q.stage, q.version, q.q, seed ?? null]);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const f: IndexFilter = {
      category: q.category ? this.index.categoryId(q.category, false) : -1,
      status: q.status,
      stage: q.stage ? STAGES.indexOf(q.stage) + 1 : 0,
      version: q.version ? this.index.versionId(q.version, false) : -1,
    };
    let out = this.index.filter(f, seed);
    if (q.q) out = await this.textFilter(out, q);
    if (this.cache.size >= 16) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, out);
    return out;
  }

  /**
   * The candidates with a box matching the filters whose category or reason contains `q`. One
   * sequential pass over the file; a line whose raw text lacks `q` is not parsed (when `q`
   * has no character JSON would escape, the raw text contains what the parsed one does).
   */
  private async textFilter(candidates: Uint32Array, q: RecordQuery): Promise<Uint32Array> {
    const wanted = new Uint8Array(this.index.size);
    for (const i of candidates) wanted[i] = 1;
    const rawCheck = ![...q.q].some((c) => c === '"' || c === '\\' || c < ' ');
    const ok = new Uint8Array(this.index.size);
    const generation = this.generation;
    let i = -1;
    await forEachLine(this.fh, (_offset, bytes) => {
      i++;
      if (!wanted[i]) return;
      const text = bytes.toString('utf8');
      // A record with verdicts on top may have categories its line lacks: always checked.
      if (rawCheck && !this.touched.has(i) && !text.toLowerCase().includes(q.q)) return;
      const view = this.viewOf(JSON.parse(text) as OdvgRecord, i);
      if (view.boxes.some((b) => boxMatches(b, q))) ok[i] = 1;
    });
    if (generation !== this.generation) return this.textFilter(candidates, q); // a verdict landed meanwhile
    return candidates.filter((x) => ok[x] === 1);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** What the index and the counts need of a box. */
type TaggedBox = Pick<BoxView, 'id' | 'category' | 'status' | 'stage'>;

/** The boxes of a record no verdict touched: its instances, and its negatives not among them. */
function plainBoxes(r: OdvgRecord): TaggedBox[] {
  const boxes: TaggedBox[] = [];
  const keys = new Set<string>();
  const named = r.detection?.instances ?? r.grounding?.regions.map((g) => ({ category: g.phrase, bbox: g.bbox })) ?? [];
  for (const b of named) {
    boxes.push({ id: 'a|', category: b.category, status: 'accepted', stage: null });
    if (r.valor?.negatives?.length) keys.add(boxKey(b.category, b.bbox));
  }
  for (const n of r.valor?.negatives ?? [])
    if (!keys.has(boxKey(n.category, n.bbox))) boxes.push({ id: 'n|', category: n.category, status: 'rejected', stage: n.stage });
  return boxes;
}

function boxMatches(b: BoxView, q: RecordQuery): boolean {
  if (q.category && b.category !== q.category) return false;
  if (q.status !== 'any' && b.status !== q.status) return false;
  if (q.stage && b.stage !== q.stage) return false;
  return b.category.toLowerCase().includes(q.q) || (b.reason ?? '').toLowerCase().includes(q.q);
}
