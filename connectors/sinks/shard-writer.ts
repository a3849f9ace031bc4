// Exactly-once JSONL shards for one topic partition, the way Kafka Connect's file sinks do
// it: the files, not Kafka's committed offsets, are the source of truth. Every finished
// shard names the offsets it covers, so after a crash the writer resumes right after the
// last finished shard and a record is neither lost nor written twice. The file names and
// metas are in shard-files.ts, recovery in shard-recovery.ts, the manifest in shard-manifest.ts.
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
import { META_FORMAT, ShardInputError, checkTopicPartition, join, metaFileName, shardFileName, type ShardInfo, type ShardMeta } from './shard-files';
import { Manifest } from './shard-manifest';
import { recoverPartition, toRecovery, type ShardRecovery } from './shard-recovery';
import type { ShardStorage, TempFile } from './shard-storage';

export const shardRotationSchema = z
  .object({
    /** Offsets (written lines plus skips) per shard. */
    maxRecords: z.number().int().min(1).default(100_000),
    /** Bytes per data file; a single line larger than this gets a shard of its own. */
    maxBytes: z
      .number()
      .int()
      .min(1)
      .default(128 * 1024 * 1024),
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

export interface AppendMeta {
  signature?: string;
  versions?: string[];
}

const MAX_OFFSET = 2n ** 63n - 1n;
// Lines are written to the temp file in chunks of about this size, not one write per line.
const WRITE_CHUNK = 64 * 1024;

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
        throw new ValorError(`shard writer for ${this.topic}+${this.partition} failed earlier (${errorMessage(this.failure)}); open a new one`, {
          cause: this.failure,
        });
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
      start: off,
      end: off,
      tempPath,
      temp,
      hash: createHash('sha256'),
      records: 0,
      offsets: 0,
      bytes: 0,
      firstTime: null,
      lastTime: null,
      versions: new Set(),
      signatures: [],
      pending: [],
      pendingBytes: 0,
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
