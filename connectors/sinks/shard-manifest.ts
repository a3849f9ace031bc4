// `<dir>/manifest.json`: every finished shard of a directory (all topics and partitions
// written there), derived from the metas. Being derived, it can always be rebuilt: a crash
// between a shard's rename and the manifest write only leaves it stale until the next write.
import * as path from 'node:path';
import {
  CLOSED_DATA,
  READ_CONCURRENCY,
  ShardCorruptionError,
  join,
  mapLimit,
  metaFileName,
  readMeta,
  type RecoveredShard,
  type ShardInfo,
  type ShardMeta,
} from './shard-files';
import type { ShardStorage } from './shard-storage';

const MANIFEST_FORMAT = 'valor-shard-manifest/1';
export const MANIFEST_FILE = 'manifest.json';

export type ManifestShard = Pick<
  ShardInfo,
  'file' | 'topic' | 'partition' | 'startOffset' | 'endOffset' | 'records' | 'offsets' | 'bytes' | 'sha256' | 'versions'
>;

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

  constructor(
    readonly storage: ShardStorage,
    readonly dir: string,
  ) {}

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
    this.queued = this.running
      .catch(() => undefined)
      .then(() => {
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
        if (cached.meta.bytes !== f.size)
          throw new ShardCorruptionError(
            `shard ${join(this.dir, f.name)} has ${f.size} bytes but its meta records ${cached.meta.bytes}: the data file was truncated or overwritten`,
          );
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
    a.topic !== b.topic
      ? a.topic < b.topic
        ? -1
        : 1
      : a.partition !== b.partition
        ? a.partition - b.partition
        : BigInt(a.startOffset) < BigInt(b.startOffset)
          ? -1
          : 1,
  );
  const shards: ManifestShard[] = sorted.map((m) => ({
    file: m.file,
    topic: m.topic,
    partition: m.partition,
    startOffset: m.startOffset,
    endOffset: m.endOffset,
    records: m.records,
    offsets: m.offsets,
    bytes: m.bytes,
    sha256: m.sha256,
    versions: m.versions,
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
