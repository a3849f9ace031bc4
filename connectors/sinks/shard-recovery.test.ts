// Recovery after a crash at each step of a shard's close, and the corruption it refuses to
// guess about. The crashes here are simulated by a storage that fails one operation;
// shard-writer.kill.test.ts kills a real process.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../../core/logger';
import { ShardCorruptionError, metaFileName, shardFileName } from './shard-files';
import { writeManifest, type ShardManifest } from './shard-manifest';
import { LocalFileStorage, type ShardStorage } from './shard-storage';
import { PartitionShardWriter, type ShardWriterOptions } from './shard-writer';

const TOPIC = 'valor.pseudo-labels';

function files(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/** Wraps a storage so a test can fail one operation, as a crash at that point would. */
function failing(inner: ShardStorage, fail: { publish?: boolean; writeAtomic?: RegExp; read?: (p: string) => void }): ShardStorage {
  return {
    list: (d, p) => inner.list(d, p),
    createTemp: (p) => inner.createTemp(p),
    publish: async (a, b) => {
      if (fail.publish) throw new Error('crash before rename');
      return inner.publish(a, b);
    },
    writeAtomic: async (p, d) => {
      if (fail.writeAtomic?.test(p)) throw new Error(`crash writing ${p}`);
      return inner.writeAtomic(p, d);
    },
    read: async (p) => {
      fail.read?.(p);
      return inner.read(p);
    },
    size: (p) => inner.size(p),
    exists: (p) => inner.exists(p),
    delete: (p) => inner.delete(p),
    removeStaleTemps: (p) => inner.removeStaleTemps(p),
    removeStaleTempsUnder: (d, r) => inner.removeStaleTempsUnder(d, r),
  };
}

describe('shard recovery', () => {
  let root: string;
  let storage: LocalFileStorage;
  const dir = 'shards';
  const shardDir = (): string => path.join(root, dir);
  const open = (o: Partial<ShardWriterOptions> = {}): Promise<PartitionShardWriter> =>
    PartitionShardWriter.open({ storage, dir, topic: TOPIC, partition: 2, ...o });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-shard-recovery-'));
    storage = new LocalFileStorage(root);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('recovers after a crash before the close: the temp is deleted and its offsets are read again', async () => {
    const w = await open({ maxRecords: 2 });
    for (let i = 0; i < 3; i++) await w.append(String(i), `{"i":${i}}`, 0, { signature: `s${i}` });
    // The process dies here, with offset 2 written to the temp only.
    expect(files(shardDir()).filter((f) => f.endsWith('.tmp'))).toHaveLength(1);
    const rec = await PartitionShardWriter.recover(storage, dir, TOPIC, 2);
    expect(rec.resumeOffset).toBe('2');
    expect([...rec.signatures]).toEqual(['s0', 's1']);
    expect(files(shardDir()).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await w.abort();
    await expect(w.append('3', '{}', 0)).rejects.toThrow(/is closed/);
  });

  it('recovers after a crash between the meta and the rename: the orphan meta is deleted', async () => {
    const w = await PartitionShardWriter.open({ storage: failing(storage, { publish: true }), dir, topic: TOPIC, partition: 2, maxRecords: 2 });
    await w.append('10', '{"a":1}', 0);
    await expect(w.append('11', '{"a":2}', 0)).rejects.toThrow(/crash before rename/);
    // A writer that failed half-way refuses to go on.
    await expect(w.append('12', '{"a":3}', 0)).rejects.toThrow(/failed earlier.*open a new one/);
    const orphan = metaFileName(shardFileName(TOPIC, 2, '10', '11'));
    expect(files(shardDir())).toEqual(['manifest.json', orphan, shardFileName(TOPIC, 2, '10')]);
    const w2 = await open({ maxRecords: 2 });
    expect(w2.recovery).toEqual({ resumeOffset: null, signatures: new Set(), shards: [] });
    expect(files(shardDir())).toEqual(['manifest.json']);
    // Nothing finished, so the caller starts over from wherever Kafka has it.
    await w2.append('10', '{"a":1}', 0);
    expect(await w2.append('11', '{"a":2}', 0)).toHaveLength(1);
  });

  it('recovers after a crash between the rename and the manifest: the shard counts and open() rewrites the manifest', async () => {
    const logged: unknown[] = [];
    const logger = { warn: (o: unknown) => logged.push(o) } as unknown as Logger;
    const w = await PartitionShardWriter.open({
      storage: failing(storage, { writeAtomic: /manifest\.json$/ }),
      dir,
      topic: TOPIC,
      partition: 2,
      maxRecords: 2,
      logger,
    });
    // The shard is published even though the manifest could not be written; that is only logged.
    expect(await w.append('0', '{"a":0}', 0, { signature: 'x0', versions: ['v1'] })).toEqual([]);
    const [shard] = await w.append('1', '{"a":1}', 0, { signature: 'x1', versions: ['v2'] });
    expect(shard).toMatchObject({ startOffset: '0', endOffset: '1', versions: ['v1', 'v2'] });
    expect(logged.length).toBeGreaterThan(0);
    expect(files(shardDir())).not.toContain('manifest.json');
    const w2 = await open();
    expect(w2.recovery.resumeOffset).toBe('2');
    expect([...w2.recovery.signatures]).toEqual(['x0', 'x1']);
    expect(w2.recovery.shards).toEqual([shard]);
    const manifest = JSON.parse(fs.readFileSync(path.join(shardDir(), 'manifest.json'), 'utf8')) as ShardManifest;
    expect(manifest.shards.map((s) => s.file)).toEqual([shard!.file]);
    expect(manifest.totals).toEqual({ shards: 1, records: 2, offsets: 2, bytes: shard!.bytes, versions: ['v1', 'v2'] });
  });

  it('detects a truncated data file and names it', async () => {
    const w = await open({ maxRecords: 2 });
    await w.append('0', '{"a":"aaaa"}', 0);
    const [shard] = await w.append('1', '{"a":"bbbb"}', 0);
    const file = path.join(shardDir(), shard!.file);
    fs.truncateSync(file, 10);
    const err = await PartitionShardWriter.recover(storage, dir, TOPIC, 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardCorruptionError);
    expect((err as Error).message).toContain(`${dir}/${shard!.file} has 10 bytes but its meta records 26`);
    await expect(writeManifest(storage, dir)).rejects.toThrow(/truncated or overwritten/);
  });

  it('detects a data file without its meta, and an unreadable meta', async () => {
    const w = await open({ maxRecords: 1 });
    const [a] = await w.append('0', '{}', 0);
    const [b] = await w.append('1', '{}', 0);
    fs.writeFileSync(path.join(shardDir(), metaFileName(b!.file)), '{"format":');
    await expect(PartitionShardWriter.recover(storage, dir, TOPIC, 2)).rejects.toThrow(new RegExp(`shard meta ${dir}/.*00001.jsonl.meta.json is unreadable`));
    fs.rmSync(path.join(shardDir(), metaFileName(a!.file)));
    await expect(PartitionShardWriter.recover(storage, dir, TOPIC, 2)).rejects.toThrow(/00000.jsonl has no meta file/);
  });

  it('recovers from the metas alone, never reading a data file', async () => {
    const w = await open({ maxRecords: 2 });
    for (let i = 0; i < 9; i++) await w.append(String(i), `{"i":${i}}`, 0, { signature: `s${i}` });
    const reads: string[] = [];
    const spy = failing(storage, { read: (p) => reads.push(p) });
    const rec = await PartitionShardWriter.recover(spy, dir, TOPIC, 2);
    expect(rec.resumeOffset).toBe('8');
    expect(rec.signatures.size).toBe(8);
    expect(reads).toHaveLength(4);
    expect(reads.every((p) => p.endsWith('.meta.json'))).toBe(true);
    await w.abort();
  });

  it('recovers 1 GiB of shards from their metas, without reading the shards', async () => {
    // 1024 shards of 1 MiB each, as sparse files, with metas that match their sizes. How fast
    // this is, is bench/sink.bench.ts's business (sink_recovery_time), not a test's.
    const d = shardDir();
    fs.mkdirSync(d);
    const mib = 1024 * 1024;
    for (let i = 0; i < 1024; i++) {
      const start = i * 1000;
      const file = shardFileName(TOPIC, 2, String(start), String(start + 999));
      const fd = fs.openSync(path.join(d, file), 'w');
      fs.ftruncateSync(fd, mib);
      fs.closeSync(fd);
      const meta = {
        format: 'valor-shard-meta/1',
        file,
        topic: TOPIC,
        partition: 2,
        startOffset: String(start),
        endOffset: String(start + 999),
        records: 1000,
        offsets: 1000,
        bytes: mib,
        sha256: '0'.repeat(64),
        firstRecordTimeMs: 0,
        lastRecordTimeMs: 0,
        versions: ['v'],
        signatures: [`sig-${i}`],
      };
      fs.writeFileSync(path.join(d, metaFileName(file)), JSON.stringify(meta));
    }
    const rec = await PartitionShardWriter.recover(storage, dir, TOPIC, 2);
    expect(rec.resumeOffset).toBe('1024000');
    expect(rec.shards).toHaveLength(1024);
    expect(rec.signatures.size).toBe(1024);
  });
});
