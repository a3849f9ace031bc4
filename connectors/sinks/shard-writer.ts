// Exactly-once JSONL shards for one topic partition, the way Kafka Connect's file sinks do
// it: the files, not Kafka's committed offsets, are the source of truth. Every finished
// shard names the offsets it covers, so after a crash the writer resumes right after the
// last finished shard and a record is neither lost nor written twice.
//
// Layout inside `dir` (offsets zero-padded to 20 digits so names sort in offset order):
//   <topic>+<partition>+<start>.jsonl.tmp                  the open shard (never read)
//   <topic>+<partition>+<start>+<end>.jsonl                a finished shard; end is inclusive
//   <topic>+<partition>+<start>+<end>.jsonl.meta.json      its sidecar meta (one JSON line)
//   manifest.json                                          every finished shard, derived from metas
//
// Closing a shard: fsync the temp -> write the meta atomically -> rename the temp to its
// final name -> fsync the directory -> rewrite the manifest. Recovery trusts DATA files: a
// temp is a shard that never finished (deleted), a meta without its data file is a crash
// between the two writes (deleted), and a data file always has its meta (else corruption).
//
// Skips: an offset can be consumed without writing a line (a duplicate). It still moves the
// shard's end and counts towards maxRecords. A shard of nothing but skips is still
// published, as an EMPTY data file (0 bytes, 0 records) with its meta, so its offsets are
// never read again after a restart.
//
// Rotation depends only on the records (count, bytes, record time, never the wall clock),
// so a re-run from the same offsets produces byte-identical shards, metas and manifest.
// Closes the caller asks for (closeShard on idle or shutdown) are the one exception: they
// put a boundary where the caller chose to.
//
// One writer per (dir, topic, partition) at a time: recovery deletes the temps of its
// partition. On Kafka that follows from the group assignment if the sink closes (or drops)
// its writers when partitions are revoked.
import { createHash, type Hash } from 'node:crypto';
import * as path from 'node:path';
import { z } from 'zod';
import { ValorError, errorMessage } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import type { ShardStorage, TempFile } from './shard-storage';

/** The caller broke the writer's contract: an offset out of order, a line with a newline. */
export class ShardInputError extends ValorError {}

/** Files on disk disagree with their metas (truncated, overwritten, deleted): needs a human. */
export class ShardCorruptionError extends ValorError {}

export const shardRotationSchema = z
  .object({
    /** Offsets (written lines plus skips) per shard. */
    maxRecords: z.number().int().min(1).default(100_000),
    /** Bytes per data file; a single line larger than this gets a shard of its own. */
    maxBytes: z.number().int().min(1).default(128 * 1024 * 1024),
    /** A record whose time is >= the shard's first record time + span starts a new shard. */
    maxSpanMs: z.number().int().min(1).optional(),
  })
  .strict();

export type ShardRotation = z.input<typeof shardRotationSchema>;

export interface ShardWriterOptions extends ShardRotation {
  storage: ShardStorage;
  /** Directory of the shards, relative to the storage root. */
  dir: string;
  topic: string;
  partition: number;
  /** Kept up to date after every close; default: the one shared for (storage, dir); false: none. */
  manifest?: Manifest | false;
  logger?: Logger;
}

/** A finished shard, as its meta describes it. Offsets are decimal strings, as in Kafka. */
export interface ShardInfo {
  /** The data file's name inside the directory. */
  file: string;
  topic: string;
  partition: number;
  startOffset: string;
  /** The last offset the shard covers, inclusive. */
  endOffset: string;
  /** Lines in the data file. */
  records: number;
  /** Offsets the shard consumed: lines plus skips (gaps in the offsets are not counted). */
  offsets: number;
  bytes: number;
  /** sha256 of the data file, hex. */
  sha256: string;
  /** Time of the first and last record that carried one, or null when none did. */
  firstRecordTimeMs: number | null;
  lastRecordTimeMs: number | null;
  /** Lineage versions seen in the shard, sorted. */
  versions: string[];
}

/** The sidecar `<data file>.meta.json`. */
export interface ShardMeta extends ShardInfo {
  format: typeof META_FORMAT;
  /** Signatures of the written lines, in order, for de-duplication after a restart. */
  signatures: string[];
}

export interface ShardRecovery {
  /** Where to continue consuming: the last finished shard's endOffset + 1; null if none. */
  resumeOffset: string | null;
  signatures: Set<string>;
  shards: ShardInfo[];
}

export interface AppendMeta {
  signature?: string;
  versions?: string[];
}

const META_FORMAT = 'valor-shard-meta/1';
const MANIFEST_FORMAT = 'valor-shard-manifest/1';
export const MANIFEST_FILE = 'manifest.json';
const MAX_OFFSET = 2n ** 63n - 1n;
// Lines are written to the temp file in chunks of about this size, not one write per line.
const WRITE_CHUNK = 64 * 1024;
const READ_CONCURRENCY = 32;

const CLOSED_DATA = /^(.+)\+(\d+)\+(\d{20})\+(\d{20})\.jsonl$/;
const META_SUFFIX = '.meta.json';

const metaSchema = z.object({
  format: z.literal(META_FORMAT),
  file: z.string(),
  topic: z.string(),
  partition: z.number().int().min(0),
  startOffset: z.string().regex(/^\d+$/),
  endOffset: z.string().regex(/^\d+$/),
  records: z.number().int().min(0),
  offsets: z.number().int().min(1),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  firstRecordTimeMs: z.number().nullable(),
  lastRecordTimeMs: z.number().nullable(),
  versions: z.array(z.string()),
  signatures: z.array(z.string()),
});

function pad(offset: bigint): string {
  return offset.toString().padStart(20, '0');
}

function checkTopicPartition(topic: string, partition: number): void {
  // Kafka's own rule for topic names; it also keeps '+' free as the name separator.
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) throw new ShardInputError(`topic '${topic}' is not a valid Kafka topic name`);
  if (!Number.isSafeInteger(partition) || partition < 0) throw new ShardInputError(`partition ${partition} of ${topic} is not a non-negative integer`);
}

/** `<topic>+<partition>+<start>+<end>.jsonl`, or the open shard's `<topic>+<partition>+<start>.jsonl.tmp`. */
export function shardFileName(topic: string, partition: number, startOffset: string | bigint, endOffset?: string | bigint): string {
  const base = `${topic}+${partition}+${pad(BigInt(startOffset))}`;
  return endOffset === undefined ? `${base}.jsonl.tmp` : `${base}+${pad(BigInt(endOffset))}.jsonl`;
}

export function metaFileName(dataFile: string): string {
  return dataFile + META_SUFFIX;
}

/** The offset to commit to Kafka (or seek to) after a finished shard. */
export function nextOffset(shard: Pick<ShardInfo, 'endOffset'>): string {
  return (BigInt(shard.endOffset) + 1n).toString();
}

function join(dir: string, name: string): string {
  return path.posix.join(dir, name);
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Reads and checks a meta against its data file's name and listed size. */
async function readMeta(storage: ShardStorage, dir: string, dataFile: string, dataSize: number): Promise<ShardMeta> {
  const metaPath = join(dir, metaFileName(dataFile));
  let meta: ShardMeta;
  try {
    meta = metaSchema.parse(JSON.parse((await storage.read(metaPath)).toString('utf8'))) as ShardMeta;
  } catch (err) {
    throw new ShardCorruptionError(`shard meta ${metaPath} is unreadable: ${errorMessage(err)}`, { cause: err });
  }
  const m = CLOSED_DATA.exec(dataFile)!;
  if (meta.file !== dataFile || meta.topic !== m[1] || String(meta.partition) !== m[2]
    || pad(BigInt(meta.startOffset)) !== m[3] || pad(BigInt(meta.endOffset)) !== m[4]) {
    throw new ShardCorruptionError(`shard meta ${metaPath} describes ${meta.topic}+${meta.partition} offsets ${meta.startOffset}..${meta.endOffset} (${meta.file}), not ${dataFile}`);
  }
  if (meta.bytes !== dataSize) {
    throw new ShardCorruptionError(`shard ${join(dir, dataFile)} has ${dataSize} bytes but its meta records ${meta.bytes}: the data file was truncated or overwritten`);
  }
  return meta;
}

function infoOf(meta: ShardMeta): ShardInfo {
  const { format: _f, signatures: _s, ...info } = meta;
  return info;
}

interface RecoveredShard {
  meta: ShardMeta;
  metaSize: number;
}

interface OpenShard {
  start: bigint;
  end: bigint;
  tempPath: string;
  temp: TempFile;
  hash: Hash;
  records: number;
  offsets: number;
  bytes: number;
  firstTime: number | null;
  lastTime: number | null;
  versions: Set<string>;
  signatures: string[];
  pending: string[];
  pendingBytes: number;
}

/** Writes one topic partition's records, in offset order, into exactly-once JSONL shards. */
export class PartitionShardWriter {
  readonly storage: ShardStorage;
  readonly dir: string;
  readonly topic: string;
  readonly partition: number;
  /** What recovery found when this writer was made. */
  readonly recovery: ShardRecovery;
  /** Signatures of every line in a finished or the open shard. */
  readonly signatures: Set<string>;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly maxSpanMs: number | undefined;
  private readonly manifest: Manifest | undefined;
  private readonly logger: Logger;
  private lastOffset: bigint | null;
  private shard: OpenShard | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private failure: unknown;
  private ended = false;

  /** Prefer `open`, which recovers first; `recovery` must come from `recover` on the same files. */
  constructor(options: ShardWriterOptions, recovery: ShardRecovery) {
    checkTopicPartition(options.topic, options.partition);
    const rotation = shardRotationSchema.parse({ maxRecords: options.maxRecords, maxBytes: options.maxBytes, maxSpanMs: options.maxSpanMs });
    this.storage = options.storage;
    this.dir = path.posix.normalize(options.dir);
    this.topic = options.topic;
    this.partition = options.partition;
    this.maxRecords = rotation.maxRecords;
    this.maxBytes = rotation.maxBytes;
    this.maxSpanMs = rotation.maxSpanMs;
    this.manifest = options.manifest === false ? undefined : (options.manifest ?? Manifest.for(options.storage, this.dir));
    this.logger = options.logger ?? silentLogger;
    this.recovery = recovery;
    this.signatures = new Set(recovery.signatures);
    this.lastOffset = recovery.resumeOffset === null ? null : BigInt(recovery.resumeOffset) - 1n;
  }

  /** Recovers the partition's files, then returns a writer that continues after them. */
  static async open(options: ShardWriterOptions): Promise<PartitionShardWriter> {
    const dir = path.posix.normalize(options.dir);
    const found = await recoverPartition(options.storage, dir, options.topic, options.partition);
    const writer = new PartitionShardWriter(options, toRecovery(found));
    if (writer.manifest) {
      for (const s of found) writer.manifest.remember(s.meta, s.metaSize);
      // A crash after a shard's rename but before the manifest write left it stale.
      await writer.refreshManifest();
    }
    return writer;
  }

  /**
   * Cleans the partition's files after a crash (temps, metas without data) and reports
   * where to resume. Reads the metas only, never the data files.
   */
  static async recover(storage: ShardStorage, dir: string, topic: string, partition: number): Promise<ShardRecovery> {
    return toRecovery(await recoverPartition(storage, path.posix.normalize(dir), topic, partition));
  }

  /** The open shard, for monitoring; null when none is open. */
  get openShard(): { startOffset: string; endOffset: string; records: number; offsets: number; bytes: number } | null {
    const s = this.shard;
    return s && { startOffset: s.start.toString(), endOffset: s.end.toString(), records: s.records, offsets: s.offsets, bytes: s.bytes };
  }

  /**
   * Writes `line` (one JSON document, no newline) for `offset`. Resolves with the shards this
   * call closed (usually none), after which their offsets may be committed to Kafka.
   */
  async append(offset: string, line: string, recordTimeMs: number, meta?: AppendMeta): Promise<ShardInfo[]> {
    // Checked before the first await, so offsets are checked in call order.
    const off = this.accept(offset, recordTimeMs);
    if (typeof line !== 'string' || line.length === 0 || line.includes('\n')) {
      throw new ShardInputError(`${this.topic}+${this.partition} offset ${offset}: a line must be non-empty and hold no newline`);
    }
    this.lastOffset = off;
    if (meta?.signature !== undefined) this.signatures.add(meta.signature);
    return this.run(async () => {
      const closed: ShardInfo[] = [];
      const size = Buffer.byteLength(line) + 1;
      if (this.shard && (this.spanReached(this.shard, recordTimeMs) || (this.shard.bytes > 0 && this.shard.bytes + size > this.maxBytes))) {
        closed.push(await this.finish());
      }
      const s = this.shard ?? (await this.start(off));
      s.end = off;
      s.offsets++;
      s.records++;
      s.bytes += size;
      this.noteTime(s, recordTimeMs);
      for (const v of meta?.versions ?? []) s.versions.add(v);
      if (meta?.signature !== undefined) s.signatures.push(meta.signature);
      s.pending.push(line, '\n');
      s.pendingBytes += size;
      if (s.pendingBytes >= WRITE_CHUNK) await this.drain(s);
      if (s.offsets >= this.maxRecords || s.bytes >= this.maxBytes) closed.push(await this.finish());
      return closed;
    });
  }

  /**
   * Consumes `offset` without writing a line (a duplicate, a filtered record). The offset
   * still ends up in a shard's range, so it is not read again after a restart. With a
   * record time, the skip also takes part in the time rotation.
   */
  async skip(offset: string, recordTimeMs?: number): Promise<ShardInfo[]> {
    const off = this.accept(offset, recordTimeMs);
    this.lastOffset = off;
    return this.run(async () => {
      const closed: ShardInfo[] = [];
      if (this.shard && recordTimeMs !== undefined && this.spanReached(this.shard, recordTimeMs)) closed.push(await this.finish());
      const s = this.shard ?? (await this.start(off));
      s.end = off;
      s.offsets++;
      if (recordTimeMs !== undefined) this.noteTime(s, recordTimeMs);
      if (s.offsets >= this.maxRecords) closed.push(await this.finish());
      return closed;
    });
  }

  /** Closes the open shard now (idle, shutdown, revoke); null when none is open. */
  closeShard(): Promise<ShardInfo | null> {
    if (this.ended) return Promise.reject(new ShardInputError(`shard writer for ${this.topic}+${this.partition} is closed`));
    return this.run(async () => (this.shard ? this.finish() : null));
  }

  /**
   * The same as closeShard, under Kafka Connect's name: a flush publishes the open file.
   * There is no flush that keeps the shard open, because recovery discards an unpublished
   * temp whatever it holds.
   */
  flush(): Promise<ShardInfo | null> {
    return this.closeShard();
  }

  /** Closes the open shard and refuses any later call; closing again does nothing. */
  async close(): Promise<ShardInfo | null> {
    if (this.ended) return null;
    const last = await this.closeShard();
    this.ended = true;
    return last;
  }

  /**
   * Drops the open shard without publishing it and refuses any later call: for a writer
   * that failed or a partition that was lost. The temp stays for recovery to delete (not
   * here: a new owner of the partition may already be writing a temp of the same name),
   * and its offsets are read again by whoever resumes.
   */
  async abort(): Promise<void> {
    this.ended = true;
    await this.tail;
    const s = this.shard;
    this.shard = null;
    if (s) await s.temp.close().catch(() => undefined);
  }

  private accept(offset: string, recordTimeMs: number | undefined): bigint {
    const where = `${this.topic}+${this.partition}`;
    if (this.ended) throw new ShardInputError(`shard writer for ${where} is closed`);
    if (typeof offset !== 'string' || !/^\d{1,20}$/.test(offset) || BigInt(offset) > MAX_OFFSET) {
      throw new ShardInputError(`${where}: offset '${offset}' is not a Kafka offset (a decimal string)`);
    }
    const off = BigInt(offset);
    if (this.lastOffset !== null && off <= this.lastOffset) {
      throw new ShardInputError(`${where}: offset ${offset} is not after the last offset ${this.lastOffset} (records must come once, in offset order)`);
    }
    if (recordTimeMs !== undefined && !Number.isFinite(recordTimeMs)) {
      throw new ShardInputError(`${where} offset ${offset}: record time ${recordTimeMs} is not a finite number`);
    }
    return off;
  }

  // Operations run one at a time, in call order. After an I/O failure the writer's state
  // no longer matches the files, so it refuses everything; open a new one (which recovers).
  private run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(() => {
      if (this.failure !== undefined) {
        throw new ValorError(`shard writer for ${this.topic}+${this.partition} failed earlier (${errorMessage(this.failure)}); open a new one`, { cause: this.failure });
      }
      return op().catch((err: unknown) => {
        this.failure = err;
        throw err;
      });
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  private spanReached(s: OpenShard, recordTimeMs: number): boolean {
    return this.maxSpanMs !== undefined && s.firstTime !== null && recordTimeMs >= s.firstTime + this.maxSpanMs;
  }

  private noteTime(s: OpenShard, t: number): void {
    if (s.firstTime === null) s.firstTime = t;
    s.lastTime = t;
  }

  private async start(off: bigint): Promise<OpenShard> {
    const tempPath = join(this.dir, shardFileName(this.topic, this.partition, off));
    const temp = await this.storage.createTemp(tempPath);
    this.shard = {
      start: off, end: off, tempPath, temp, hash: createHash('sha256'), records: 0, offsets: 0, bytes: 0,
      firstTime: null, lastTime: null, versions: new Set(), signatures: [], pending: [], pendingBytes: 0,
    };
    return this.shard;
  }

  private async drain(s: OpenShard): Promise<void> {
    if (s.pending.length === 0) return;
    const chunk = Buffer.from(s.pending.join(''), 'utf8');
    s.pending = [];
    s.pendingBytes = 0;
    s.hash.update(chunk);
    await s.temp.write(chunk);
  }

  private async finish(): Promise<ShardInfo> {
    const s = this.shard!;
    await this.drain(s);
    await s.temp.sync();
    await s.temp.close();
    const file = shardFileName(this.topic, this.partition, s.start, s.end);
    const info: ShardInfo = {
      file,
      topic: this.topic,
      partition: this.partition,
      startOffset: s.start.toString(),
      endOffset: s.end.toString(),
      records: s.records,
      offsets: s.offsets,
      bytes: s.bytes,
      sha256: s.hash.digest('hex'),
      firstRecordTimeMs: s.firstTime,
      lastRecordTimeMs: s.lastTime,
      versions: [...s.versions].sort(),
    };
    const meta: ShardMeta = { format: META_FORMAT, ...info, signatures: s.signatures };
    const metaText = JSON.stringify(meta) + '\n';
    // The meta goes first: a data file must never exist without it.
    await this.storage.writeAtomic(join(this.dir, metaFileName(file)), metaText);
    await this.storage.publish(s.tempPath, join(this.dir, file));
    this.shard = null;
    if (this.manifest) {
      this.manifest.remember(meta, Buffer.byteLength(metaText));
      await this.refreshManifest();
    }
    return info;
  }

  // The manifest is derived from the metas and rebuilt on the next close, so a failure to
  // write it must not fail the shard, which is already safely published.
  private async refreshManifest(): Promise<void> {
    try {
      await this.manifest!.write();
    } catch (err) {
      this.logger.warn({ err, dir: this.dir, topic: this.topic, partition: this.partition }, 'shard manifest not updated; retried after the next close');
    }
  }
}

async function recoverPartition(storage: ShardStorage, dir: string, topic: string, partition: number): Promise<RecoveredShard[]> {
  checkTopicPartition(topic, partition);
  const files = await storage.list(dir, `${topic}+${partition}+`);
  const sizes = new Map(files.map((f) => [f.name, f.size]));
  const data: Array<{ name: string; start: bigint; end: bigint; size: number }> = [];
  const stale: string[] = [];
  for (const f of files) {
    const m = CLOSED_DATA.exec(f.name);
    if (m && m[1] === topic && m[2] === String(partition)) {
      data.push({ name: f.name, start: BigInt(m[3]!), end: BigInt(m[4]!), size: f.size });
    } else if (f.name.endsWith('.tmp')) {
      // An open shard or a meta being written when the process died.
      stale.push(f.name);
    } else if (f.name.endsWith(META_SUFFIX) && CLOSED_DATA.test(f.name.slice(0, -META_SUFFIX.length)) && !sizes.has(f.name.slice(0, -META_SUFFIX.length))) {
      // Meta written, data not yet renamed: the shard never finished.
      stale.push(f.name);
    }
  }
  await mapLimit(stale, READ_CONCURRENCY, (name) => storage.delete(join(dir, name)));
  data.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 0; i < data.length; i++) {
    const d = data[i]!;
    if (d.end < d.start) throw new ShardCorruptionError(`shard ${join(dir, d.name)} ends before it starts`);
    if (!sizes.has(metaFileName(d.name))) {
      throw new ShardCorruptionError(`shard ${join(dir, d.name)} has no meta file ${metaFileName(d.name)}: it was deleted or never written by this writer`);
    }
    const prev = data[i - 1];
    if (prev && d.start <= prev.end) {
      throw new ShardCorruptionError(`shards ${join(dir, prev.name)} and ${d.name} overlap (offsets would be duplicated)`);
    }
  }
  return mapLimit(data, READ_CONCURRENCY, async (d) => ({
    meta: await readMeta(storage, dir, d.name, d.size),
    metaSize: sizes.get(metaFileName(d.name))!,
  }));
}

function toRecovery(found: RecoveredShard[]): ShardRecovery {
  const signatures = new Set<string>();
  for (const s of found) for (const sig of s.meta.signatures) signatures.add(sig);
  const last = found[found.length - 1];
  return { resumeOffset: last ? nextOffset(last.meta) : null, signatures, shards: found.map((s) => infoOf(s.meta)) };
}

/** Reads a finished shard in full and checks it against its meta (bytes, lines, sha256). */
export async function verifyShard(storage: ShardStorage, dir: string, shard: ShardInfo): Promise<void> {
  const p = join(dir, shard.file);
  const bytes = await storage.read(p);
  const sha = createHash('sha256').update(bytes).digest('hex');
  let lines = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) lines++;
  if (bytes.length !== shard.bytes || sha !== shard.sha256 || lines !== shard.records || (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a)) {
    throw new ShardCorruptionError(`shard ${p} does not match its meta: ${bytes.length} bytes (meta ${shard.bytes}), ${lines} lines (meta ${shard.records}), sha256 ${sha} (meta ${shard.sha256})`);
  }
}

export type ManifestShard = Pick<ShardInfo, 'file' | 'topic' | 'partition' | 'startOffset' | 'endOffset' | 'records' | 'offsets' | 'bytes' | 'sha256' | 'versions'>;

export interface ShardManifest {
  format: typeof MANIFEST_FORMAT;
  /** Sorted by topic, partition, startOffset. */
  shards: ManifestShard[];
  partitions: Array<{ topic: string; partition: number; shards: number; records: number; startOffset: string; endOffset: string }>;
  totals: { shards: number; records: number; offsets: number; bytes: number; versions: string[] };
}

const shared = new WeakMap<ShardStorage, Map<string, Manifest>>();

/**
 * `<dir>/manifest.json`: every finished shard in a directory, from the metas. Metas are
 * immutable once published, so they are cached: a rewrite costs one listing plus reading
 * the metas it has not seen (other partitions' new shards), not all of them again.
 * Writes are serialized and coalesced: callers that arrive while one runs share the next.
 */
export class Manifest {
  private readonly cache = new Map<string, RecoveredShard>();
  private running: Promise<ShardManifest> | null = null;
  private queued: Promise<ShardManifest> | null = null;
  private swept = false;

  constructor(readonly storage: ShardStorage, readonly dir: string) {}

  /** The instance shared by every writer of `dir` in this process. */
  static for(storage: ShardStorage, dir: string): Manifest {
    const d = path.posix.normalize(dir);
    let byDir = shared.get(storage);
    if (!byDir) shared.set(storage, (byDir = new Map()));
    let m = byDir.get(d);
    if (!m) byDir.set(d, (m = new Manifest(storage, d)));
    return m;
  }

  /** Lets the manifest use a meta this process just wrote without reading it back. */
  remember(meta: ShardMeta, metaSize: number): void {
    this.cache.set(meta.file, { meta, metaSize });
  }

  write(): Promise<ShardManifest> {
    if (this.queued) return this.queued;
    if (!this.running) return (this.running = this.build().finally(() => (this.running = null)));
    this.queued = this.running.catch(() => undefined).then(() => {
      this.queued = null;
      return (this.running = this.build().finally(() => (this.running = null)));
    });
    return this.queued;
  }

  private async build(): Promise<ShardManifest> {
    const target = join(this.dir, MANIFEST_FILE);
    if (!this.swept) {
      await this.storage.removeStaleTemps(target);
      this.swept = true;
    }
    const files = await this.storage.list(this.dir);
    const sizes = new Map(files.map((f) => [f.name, f.size]));
    const data = files.filter((f) => CLOSED_DATA.test(f.name));
    const listed = new Set(data.map((f) => f.name));
    for (const name of this.cache.keys()) if (!listed.has(name)) this.cache.delete(name);
    const found = await mapLimit(data, READ_CONCURRENCY, async (f) => {
      const metaSize = sizes.get(metaFileName(f.name));
      if (metaSize === undefined) throw new ShardCorruptionError(`shard ${join(this.dir, f.name)} has no meta file ${metaFileName(f.name)}`);
      const cached = this.cache.get(f.name);
      if (cached && cached.metaSize === metaSize) {
        if (cached.meta.bytes !== f.size) throw new ShardCorruptionError(`shard ${join(this.dir, f.name)} has ${f.size} bytes but its meta records ${cached.meta.bytes}: the data file was truncated or overwritten`);
        return cached;
      }
      const fresh = { meta: await readMeta(this.storage, this.dir, f.name, f.size), metaSize };
      this.cache.set(f.name, fresh);
      return fresh;
    });
    const doc = buildManifest(found.map((s) => s.meta));
    await this.storage.writeAtomic(target, JSON.stringify(doc, null, 1) + '\n');
    return doc;
  }
}

/** Rebuilds `<dir>/manifest.json` from the metas (through the shared Manifest of the directory). */
export function writeManifest(storage: ShardStorage, dir: string): Promise<ShardManifest> {
  return Manifest.for(storage, dir).write();
}

function buildManifest(metas: ShardMeta[]): ShardManifest {
  const sorted = [...metas].sort((a, b) =>
    a.topic !== b.topic ? (a.topic < b.topic ? -1 : 1)
      : a.partition !== b.partition ? a.partition - b.partition
        : BigInt(a.startOffset) < BigInt(b.startOffset) ? -1 : 1);
  const shards: ManifestShard[] = sorted.map((m) => ({
    file: m.file, topic: m.topic, partition: m.partition, startOffset: m.startOffset, endOffset: m.endOffset,
    records: m.records, offsets: m.offsets, bytes: m.bytes, sha256: m.sha256, versions: m.versions,
  }));
  const partitions: ShardManifest['partitions'] = [];
  const versions = new Set<string>();
  let records = 0;
  let offsets = 0;
  let bytes = 0;
  for (const s of shards) {
    records += s.records;
    offsets += s.offsets;
    bytes += s.bytes;
    for (const v of s.versions) versions.add(v);
    const p = partitions[partitions.length - 1];
    if (p && p.topic === s.topic && p.partition === s.partition) {
      p.shards++;
      p.records += s.records;
      p.endOffset = s.endOffset;
    } else {
      partitions.push({ topic: s.topic, partition: s.partition, shards: 1, records: s.records, startOffset: s.startOffset, endOffset: s.endOffset });
    }
  }
  return { format: MANIFEST_FORMAT, shards, partitions, totals: { shards: shards.length, records, offsets, bytes, versions: [...versions].sort() } };
}
