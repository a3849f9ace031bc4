// Recovery of one partition's shard files after a crash. It trusts DATA files: a temp is a
// shard that never finished (deleted), a meta without its data file is a crash between the
// meta write and the rename (deleted), and a data file always has its meta (else
// corruption). It reads the metas only, never the data files, so it stays fast on large
// outputs; verifyShard is the full check of one shard's bytes when that is wanted.
import { createHash } from 'node:crypto';
import {
  CLOSED_DATA,
  META_SUFFIX,
  READ_CONCURRENCY,
  ShardCorruptionError,
  checkTopicPartition,
  infoOf,
  join,
  mapLimit,
  metaFileName,
  nextOffset,
  readMeta,
  type RecoveredShard,
  type ShardInfo,
} from './shard-files';
import type { ShardStorage } from './shard-storage';

export interface ShardRecovery {
  /** Where to continue consuming: the last finished shard's endOffset + 1; null if none. */
  resumeOffset: string | null;
  signatures: Set<string>;
  shards: ShardInfo[];
}

/**
 * Deletes the partition's unfinished files (temps, metas without data), checks that the
 * finished shards neither overlap nor lack a meta, and returns their metas in offset order.
 * `dir` must be normalized. Only this partition's files are touched.
 */
export async function recoverPartition(storage: ShardStorage, dir: string, topic: string, partition: number): Promise<RecoveredShard[]> {
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

/** Where to resume and which signatures the finished shards hold. */
export function toRecovery(found: RecoveredShard[]): ShardRecovery {
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
    throw new ShardCorruptionError(
      `shard ${p} does not match its meta: ${bytes.length} bytes (meta ${shard.bytes}), ${lines} lines (meta ${shard.records}), sha256 ${sha} (meta ${shard.sha256})`,
    );
  }
}
