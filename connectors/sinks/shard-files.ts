// What the shard files are called and what their metas say: the names, the sidecar meta's
// schema and the check of a meta against its data file. The writer, recovery and the
// manifest all read the directory through these, so they agree on every name.
//
// Layout inside a shard directory (offsets zero-padded to 20 digits so names sort in offset order):
//   <topic>+<partition>+<start>.jsonl.tmp                  the open shard (never read)
//   <topic>+<partition>+<start>+<end>.jsonl                a finished shard; end is inclusive
//   <topic>+<partition>+<start>+<end>.jsonl.meta.json      its sidecar meta (one JSON line)
//   manifest.json                                          every finished shard, derived from metas
import * as path from 'node:path';
import { z } from 'zod';
import { ValorError, errorMessage } from '../../core/errors';
import type { ShardStorage } from './shard-storage';

/** The caller broke the writer's contract: an offset out of order, a line with a newline. */
export class ShardInputError extends ValorError {}

/** Files on disk disagree with their metas (truncated, overwritten, deleted): needs a human. */
export class ShardCorruptionError extends ValorError {}

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

export const META_FORMAT = 'valor-shard-meta/1';

/** The sidecar `<data file>.meta.json`. */
export interface ShardMeta extends ShardInfo {
  format: typeof META_FORMAT;
  /** Signatures of the written lines, in order, for de-duplication after a restart. */
  signatures: string[];
}

/** A finished shard's meta and the size of its meta file (which tells a changed meta apart). */
export interface RecoveredShard {
  meta: ShardMeta;
  metaSize: number;
}

/** A finished data file: `<topic>+<partition>+<start>+<end>.jsonl`. */
export const CLOSED_DATA = /^(.+)\+(\d+)\+(\d{20})\+(\d{20})\.jsonl$/;
export const META_SUFFIX = '.meta.json';
// File operations (deletes, meta reads) in flight at once during recovery and manifest builds.
export const READ_CONCURRENCY = 32;

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

export function checkTopicPartition(topic: string, partition: number): void {
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

/** A path inside the shard directory (storage paths are POSIX, whatever the platform). */
export function join(dir: string, name: string): string {
  return path.posix.join(dir, name);
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping the order of results. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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
export async function readMeta(storage: ShardStorage, dir: string, dataFile: string, dataSize: number): Promise<ShardMeta> {
  const metaPath = join(dir, metaFileName(dataFile));
  let meta: ShardMeta;
  try {
    meta = metaSchema.parse(JSON.parse((await storage.read(metaPath)).toString('utf8'))) as ShardMeta;
  } catch (err) {
    throw new ShardCorruptionError(`shard meta ${metaPath} is unreadable: ${errorMessage(err)}`, { cause: err });
  }
  const m = CLOSED_DATA.exec(dataFile)!;
  if (
    meta.file !== dataFile ||
    meta.topic !== m[1] ||
    String(meta.partition) !== m[2] ||
    pad(BigInt(meta.startOffset)) !== m[3] ||
    pad(BigInt(meta.endOffset)) !== m[4]
  ) {
    throw new ShardCorruptionError(
      `shard meta ${metaPath} describes ${meta.topic}+${meta.partition} offsets ${meta.startOffset}..${meta.endOffset} (${meta.file}), not ${dataFile}`,
    );
  }
  if (meta.bytes !== dataSize) {
    throw new ShardCorruptionError(
      `shard ${join(dir, dataFile)} has ${dataSize} bytes but its meta records ${meta.bytes}: the data file was truncated or overwritten`,
    );
  }
  return meta;
}

/** The meta without what only recovery needs (its format tag and the signatures). */
export function infoOf(meta: ShardMeta): ShardInfo {
  const { format: _f, signatures: _s, ...info } = meta;
  return info;
}
