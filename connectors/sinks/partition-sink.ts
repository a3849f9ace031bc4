// One topic partition into shard files: skips what the finished files already hold, turns
// each record into a line through a SinkFormat, drops duplicates by signature, and hands
// bad records to the dead-letter callback without stopping. The files are the source of
// truth: a re-delivered record (after a crash or a retried batch) is recognised by its
// offset and written once.
import { isRetriable } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { ShardStorage } from './shard-storage';
import type { ShardInfo } from './shard-files';
import { PartitionShardWriter, ShardRotation } from './shard-writer';

export interface SinkRecord<T> {
  offset: string;
  timestamp: number;
  /** Absent when the bytes did not decode; `error` says why. */
  value?: T;
  error?: unknown;
  key: Buffer | null;
  raw: Buffer | null;
}

export interface FormattedLine {
  line: string;
  /** Records with a signature already written are dropped (idempotent re-runs). */
  signature?: string;
  versions?: string[];
}

/** How a sink turns records into lines; the rest (files, offsets, crashes) is shared. */
export interface SinkFormat<T> {
  readonly name: string;
  /** The line for a record, or null to write nothing for it. Throw to dead-letter it. */
  format(value: T, at: { topic: string; partition: number; offset: string }): Promise<FormattedLine | null>;
  /** After shards close: e.g. rewrite the dataset index. */
  onShardsClosed?(shards: ShardInfo[]): Promise<void>;
  close?(): Promise<void>;
}

/** What a partition sink did with its records. */
export interface SinkCounts {
  written: number;
  duplicates: number;
  skipped: number;
  deadLettered: number;
}

export function addCounts(into: SinkCounts, from: SinkCounts): void {
  into.written += from.written;
  into.duplicates += from.duplicates;
  into.skipped += from.skipped;
  into.deadLettered += from.deadLettered;
}

export type DeadLetterFn = (record: SinkRecord<unknown>, error: unknown) => Promise<void>;

export class PartitionSink<T> {
  readonly stats: SinkCounts = { written: 0, duplicates: 0, skipped: 0, deadLettered: 0 };

  private constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly writer: PartitionShardWriter,
    private readonly format: SinkFormat<T>,
    private readonly deadLetter: DeadLetterFn,
    private readonly logger: Logger,
  ) {}

  static async open<T>(opts: {
    storage: ShardStorage;
    dir: string;
    topic: string;
    partition: number;
    format: SinkFormat<T>;
    rotation?: ShardRotation;
    deadLetter: DeadLetterFn;
    logger: Logger;
  }): Promise<PartitionSink<T>> {
    const writer = await PartitionShardWriter.open({
      storage: opts.storage,
      dir: opts.dir,
      topic: opts.topic,
      partition: opts.partition,
      logger: opts.logger,
      ...opts.rotation,
    });
    const sink = new PartitionSink(opts.topic, opts.partition, writer, opts.format, opts.deadLetter, opts.logger);
    if (writer.recovery.resumeOffset !== null) sink.nextOffset = BigInt(writer.recovery.resumeOffset);
    opts.logger.info(
      { topic: opts.topic, partition: opts.partition, resumeOffset: writer.recovery.resumeOffset, shards: writer.recovery.shards.length },
      'sink partition recovered from its files',
    );
    return sink;
  }

  /** The first offset the files do not hold yet (null: nothing written, start anywhere). */
  get resumeOffset(): string | null {
    return this.writer.recovery.resumeOffset;
  }

  /** The next offset to write; records below it are in the files (or the open shard) already. */
  private nextOffset = -1n;

  /**
   * Writes records in offset order. Retriable failures (e.g. the label registry is out of
   * reach) throw, and the caller re-delivers the batch: offsets already written are skipped.
   */
  async handle(records: Array<SinkRecord<T>>): Promise<ShardInfo[]> {
    const closed: ShardInfo[] = [];
    for (const r of records) {
      const note = (c: ShardInfo[]) => {
        closed.push(...c);
        this.nextOffset = BigInt(r.offset) + 1n;
      };
      if (BigInt(r.offset) < this.nextOffset) continue;
      let out: FormattedLine | null = null;
      let failed: unknown = r.error;
      if (failed === undefined) {
        try {
          out = await this.format.format(r.value as T, { topic: this.topic, partition: this.partition, offset: r.offset });
        } catch (err) {
          if (isRetriable(err)) throw err;
          failed = err;
        }
      }
      if (failed !== undefined) {
        await this.deadLetter(r as SinkRecord<unknown>, failed);
        this.stats.deadLettered++;
        note(await this.writer.skip(r.offset, r.timestamp));
      } else if (!out) {
        this.stats.skipped++;
        note(await this.writer.skip(r.offset, r.timestamp));
      } else if (out.signature && this.writer.signatures.has(out.signature)) {
        this.stats.duplicates++;
        note(await this.writer.skip(r.offset, r.timestamp));
      } else {
        this.stats.written++;
        note(await this.writer.append(r.offset, out.line, r.timestamp, { signature: out.signature, versions: out.versions }));
      }
    }
    if (closed.length) await this.format.onShardsClosed?.(closed);
    return closed;
  }

  /** Publishes the open shard (graceful stop). */
  async close(): Promise<ShardInfo | null> {
    const s = await this.writer.close();
    if (s) await this.format.onShardsClosed?.([s]);
    return s;
  }

  /** Drops the open shard without publishing it (the partition moved to another instance). */
  async abort(): Promise<void> {
    await this.writer.abort();
    this.logger.info({ topic: this.topic, partition: this.partition }, 'sink partition released; its open shard was discarded');
  }
}
