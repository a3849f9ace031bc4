// The training set: one ODVG record per image, merged from the per-query shards.
//
// Why: the sink writes one line per pseudo-label, that is one per query, so an image queried
// for 'cat' and for 'dog' would be two records. In OD mode Open-GroundingDino samples
// label-map categories that are NOT among a record's instances into its caption as
// negatives, so the dog verified by the second query would be taught as "no dog here" by the
// first query's record. A merged record carries every accepted box of every query on the
// image. Images are content-addressed, so one image is one `filename` whichever partition,
// shard or replay wrote it.
//
// The per-query shards stay as they are: they are the exactly-once, replayable audit trail
// (one line per Kafka offset), and this file is derived from them, so it can always be
// rebuilt. Only finished shards the manifest vouches for are read (metas checked against
// their data files), and each shard's sha256 and line count are checked as it streams.
//
// VG mode merges the same way. The loader builds a VG caption from the regions' phrases and
// samples no negatives, so per-query VG records are not wrong, but one record per image gives
// every grounded phrase of the image in one sample and does not weight an image by how often
// it was queried. An image without regions is never written (the loader crashes on it).
//
// Deterministic, byte for byte: records sorted by filename, boxes by category then bbox, so a
// re-run (or another sink instance over the same shards) writes the same file.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { ValorError } from '../../core/errors';
import type { HumanVerdict } from '../../schemas/generated/types';
import { applyVerdicts } from '../review/apply-verdicts';
import { verdictsByImage } from '../review/human-verdicts';
import { MetaUnion } from './odvg-merge-meta';
import { vgCaption, type OdvgMode, type OdvgRecord } from './odvg';
import { join, ShardCorruptionError } from './shard-files';
import { Manifest, type ManifestShard } from './shard-manifest';
import { LocalFileStorage, type ShardStorage } from './shard-storage';

/** Where the merged training set goes, relative to the dataset root. */
export const MERGED_FILE = 'merged/train.odvg.jsonl';

export interface OdvgMergeCounts {
  /** Per-query lines read from the shards (all modes). */
  records: number;
  /** Merged records written: one per image. */
  images: number;
  /** Boxes written (OD instances or VG regions). */
  instances: number;
  /** Boxes left out because the image already had the same category (phrase) and bbox. */
  duplicatesRemoved: number;
  /** Images written with no instances: every query on them had all its boxes rejected. */
  backgroundOnly: number;
  /** Lines of the other mode (a directory once written in VG, then in OD), left out. */
  otherMode: number;
  /** Finished shards merged. */
  shards: number;
  /** People's verdicts applied (review). */
  humanVerdicts: number;
}

/** The shards use label ids the label map does not have yet: it lags the label log. */
export class LabelMapBehindError extends ValorError {
  constructor(readonly categories: string[]) {
    super(`the label map has no id for ${categories.map((c) => `'${c}'`).join(', ')}, which the shards use: it lags the label log`, { retriable: true });
  }
}

type Bbox = [number, number, number, number];
/** `label` is -1 in VG mode, where `category` is the phrase. */
interface Box {
  category: string;
  bbox: Bbox;
  label: number;
}
interface ImageEntry {
  width: number;
  height: number;
  /** By `category \0 bbox`: exact duplicates meet on one key. */
  boxes: Map<string, Box>;
  meta: MetaUnion;
}
type Instance = { bbox?: unknown; label?: unknown; category?: unknown };
type Region = { bbox?: unknown; phrase?: unknown };
interface RawLine {
  filename?: unknown;
  width?: unknown;
  height?: unknown;
  detection?: { instances?: unknown };
  grounding?: { regions?: unknown };
  valor?: unknown;
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byBox = (a: Box, b: Box): number =>
  byString(a.category, b.category) || a.bbox[0] - b.bbox[0] || a.bbox[1] - b.bbox[1] || a.bbox[2] - b.bbox[2] || a.bbox[3] - b.bbox[3];
const isBbox = (b: unknown): b is Bbox => Array.isArray(b) && b.length === 4 && b.every((v) => typeof v === 'number' && Number.isFinite(v));

/**
 * Folds finished shards into one entry per image and writes the merged file. It keeps what
 * it has folded, so a sink calling update() at every shard close reads each shard once; the
 * write is still a full rewrite of the merged file (one line per image) each time.
 */
export class OdvgMerger {
  private images = new Map<string, ImageEntry>();
  /** Folded shard files and their sha256. */
  private folded = new Map<string, string>();
  private records = 0;
  private boxesRead = 0;
  private otherMode = 0;
  private dirty = true;
  private swept = false;
  private last: OdvgMergeCounts | null = null;
  private verdictDigest = '';
  /** The records' mode: as configured, or that of the first line read. */
  mode: OdvgMode | undefined;

  constructor(
    private readonly storage: ShardStorage,
    /** `out` (default MERGED_FILE) is a path in `target`, which is the shards' storage unless given. */
    private readonly o: {
      shardDir: string;
      mode?: OdvgMode;
      out?: string;
      target?: ShardStorage;
      /** People's decisions to apply over the verifier's (review); read at every write. */
      verdicts?: () => Promise<HumanVerdict[]>;
    },
  ) {
    this.mode = o.mode;
  }

  /** The merged file's path in its storage. */
  get file(): string {
    return this.o.out ?? MERGED_FILE;
  }

  /** Folds in the finished shards not folded yet; returns how many. */
  async update(): Promise<number> {
    const { shards } = await Manifest.for(this.storage, this.o.shardDir).write();
    const listed = new Map(shards.map((s) => [s.file, s.sha256]));
    // Published shards are immutable: one that vanished or changed was removed or replaced by
    // hand, and only a fold from scratch can take its boxes out again.
    if ([...this.folded].some(([f, sha]) => listed.get(f) !== sha)) this.reset();
    let n = 0;
    for (const s of shards) {
      if (this.folded.has(s.file)) continue;
      try {
        await this.fold(s);
      } catch (err) {
        this.reset(); // half a shard is folded in: start over next time
        throw err;
      }
      this.folded.set(s.file, s.sha256);
      n++;
    }
    if (n) this.dirty = true;
    return n;
  }

  /**
   * Writes the merged file atomically (skipped when nothing was folded since the last write).
   * OD mode checks every instance against `labelMap` (categories by id): an id the map
   * lacks throws LabelMapBehindError, an id naming another category a ShardCorruptionError.
   */
  async write(labelMap: string[] | null): Promise<OdvgMergeCounts> {
    const verdicts = verdictsByImage((await this.o.verdicts?.()) ?? []);
    // New verdicts change the output as new shards do.
    const verdictDigest = [...verdicts.values()].map((l) => l.map((v) => v.id).join(',')).join(';');
    if (verdictDigest !== this.verdictDigest) this.dirty = true;
    if (!this.dirty && this.last) return this.last;
    if (this.mode === 'od' && !labelMap) throw new Error('merging OD records needs the label map');
    const chunks: Buffer[] = [];
    let part = '';
    let instances = 0;
    let images = 0;
    let backgroundOnly = 0;
    const behind = new Set<string>();
    const labelIds = new Map((labelMap ?? []).map((name, id) => [name, id]));
    const labelOf = (category: string) => (this.mode === 'vg' ? -1 : labelIds.get(category));
    let humanApplied = 0;
    for (const filename of [...this.images.keys()].sort(byString)) {
      const { width, height, boxes: byKey, meta } = this.images.get(filename)!;
      // Images are stored under their sha256: that is how a verdict names its image.
      const own = verdicts.get(path.posix.basename(filename).replace(/\.[^.]+$/, '')) ?? [];
      const human = applyVerdicts({ boxes: [...byKey.values()], negatives: meta.allNegatives() }, own, labelOf);
      humanApplied += human.applied.length;
      const boxes = human.boxes.sort(byBox);
      const valor = meta.meta(human.negatives, human.applied);
      let record: OdvgRecord;
      if (this.mode === 'vg') {
        if (!boxes.length) continue;
        const regions = boxes.map((b) => ({ bbox: b.bbox, phrase: b.category }));
        record = { filename, height, width, grounding: { caption: vgCaption(boxes.map((b) => b.category)), regions }, valor };
      } else {
        for (const b of boxes) {
          const name = labelMap![b.label];
          if (name === undefined) behind.add(b.category);
          else if (name !== b.category)
            throw new ShardCorruptionError(`${filename}: instance '${b.category}' has label ${b.label}, which the label map names '${name}'`);
        }
        record = { filename, height, width, detection: { instances: boxes.map((b) => ({ bbox: b.bbox, label: b.label, category: b.category })) }, valor };
        if (!boxes.length) backgroundOnly++;
      }
      images++;
      instances += boxes.length;
      part += JSON.stringify(record) + '\n';
      // Chunks, not one string: a big set would pass V8's string length limit.
      if (part.length >= 1 << 22) {
        chunks.push(Buffer.from(part));
        part = '';
      }
    }
    if (behind.size) throw new LabelMapBehindError([...behind].sort(byString));
    chunks.push(Buffer.from(part));
    const target = this.o.target ?? this.storage;
    if (!this.swept) {
      await target.removeStaleTemps(this.file); // a killed writer's temp
      this.swept = true;
    }
    await target.writeAtomic(this.file, Buffer.concat(chunks));
    let unique = 0;
    for (const e of this.images.values()) unique += e.boxes.size;
    this.dirty = false;
    this.verdictDigest = verdictDigest;
    this.last = {
      humanVerdicts: humanApplied,
      records: this.records,
      images,
      instances,
      duplicatesRemoved: this.boxesRead - unique,
      backgroundOnly,
      otherMode: this.otherMode,
      shards: this.folded.size,
    };
    return this.last;
  }

  private reset(): void {
    this.images = new Map();
    this.folded = new Map();
    this.records = this.boxesRead = this.otherMode = 0;
    this.mode = this.o.mode;
    this.dirty = true;
  }

  private async fold(s: ManifestShard): Promise<void> {
    const p = join(this.o.shardDir, s.file);
    const hash = createHash('sha256');
    let n = 0;
    for await (const line of linesOf(this.storage, p, hash)) this.add(line, `${p}:${++n}`);
    const sha = hash.digest('hex');
    if (n !== s.records || sha !== s.sha256)
      throw new ShardCorruptionError(
        `shard ${p} has ${n} lines (sha256 ${sha}) but its meta records ${s.records} (sha256 ${s.sha256}): the data file changed after it was published`,
      );
  }

  private add(line: string, where: string): void {
    let r: RawLine;
    try {
      r = JSON.parse(line) as RawLine;
    } catch (err) {
      throw new ShardCorruptionError(`${where}: not JSON`, { cause: err });
    }
    const { filename, width, height } = r;
    const kind: OdvgMode = r.detection ? 'od' : 'vg';
    const list: unknown = kind === 'od' ? r.detection?.instances : r.grounding?.regions;
    if (typeof filename !== 'string' || !Number.isInteger(width) || !Number.isInteger(height) || !Array.isArray(list))
      throw new ShardCorruptionError(`${where}: not an ODVG record`);
    const raw =
      kind === 'od'
        ? (list as Array<Instance | null>).map((i) => ({ category: i?.category, bbox: i?.bbox, label: i?.label }))
        : (list as Array<Region | null>).map((g) => ({ category: g?.phrase, bbox: g?.bbox, label: -1 }));
    this.mode ??= kind;
    this.records++;
    if (kind !== this.mode) {
      this.otherMode++;
      return;
    }
    let e = this.images.get(filename);
    if (!e) this.images.set(filename, (e = { width: width as number, height: height as number, boxes: new Map(), meta: new MetaUnion() }));
    // The same content cannot have two sizes: a size mismatch is a bug upstream, not a choice to make here.
    else if (e.width !== width || e.height !== height)
      throw new ShardCorruptionError(`${where}: ${filename} is ${width}x${height} here but ${e.width}x${e.height} in an earlier record`);
    e.meta.add(r.valor);
    for (const b of raw) {
      if (typeof b.category !== 'string' || !b.category || !isBbox(b.bbox) || !Number.isInteger(b.label))
        throw new ShardCorruptionError(`${where}: a box is not {bbox: 4 numbers, ${kind === 'od' ? 'label, category' : 'phrase'}}`);
      this.boxesRead++;
      const key = `${b.category}\0${b.bbox.join(',')}`;
      const had = e.boxes.get(key);
      if (!had) e.boxes.set(key, { category: b.category, bbox: b.bbox, label: b.label as number });
      else if (had.label !== b.label) throw new ShardCorruptionError(`${where}: '${b.category}' has label ${String(b.label)} here but ${had.label} before`);
    }
  }
}

/**
 * A file's lines, streamed on a local file system so a shard is never whole in memory (other
 * storages have no streaming read yet: there a shard, at most the rotation's maxBytes, is
 * read whole). `hash` sees every byte.
 */
async function* linesOf(storage: ShardStorage, p: string, hash: Hash): AsyncGenerator<string> {
  const chunks: AsyncIterable<Buffer> =
    storage instanceof LocalFileStorage ? createReadStream(storage.resolve(p), { highWaterMark: 1 << 20 }) : whole(storage, p);
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    hash.update(chunk);
    // Split bytes, not text: a UTF-8 character may straddle two chunks.
    const buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      yield buf.toString('utf8', start, nl);
      start = nl + 1;
    }
    rest = buf.subarray(start);
  }
  if (rest.length) yield rest.toString('utf8');
}

async function* whole(storage: ShardStorage, p: string): AsyncGenerator<Buffer> {
  yield await storage.read(p);
}
