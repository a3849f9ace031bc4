// The directory's manifest: one document for every partition written there, derived from the metas.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { shardFileName } from './shard-files';
import { Manifest, type ShardManifest } from './shard-manifest';
import { LocalFileStorage } from './shard-storage';
import { PartitionShardWriter, type ShardWriterOptions } from './shard-writer';

const TOPIC = 'valor.pseudo-labels';

function files(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

describe('shard manifest', () => {
  let root: string;
  let storage: LocalFileStorage;
  const dir = 'shards';
  const shardDir = (): string => path.join(root, dir);
  const open = (o: Partial<ShardWriterOptions> = {}): Promise<PartitionShardWriter> =>
    PartitionShardWriter.open({ storage, dir, topic: TOPIC, partition: 2, ...o });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-shard-manifest-'));
    storage = new LocalFileStorage(root);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('keeps one manifest for every partition of the directory, and leaves other partitions alone', async () => {
    const manifest = new Manifest(storage, dir);
    const w0 = await open({ partition: 0, maxRecords: 2, manifest });
    const w1 = await open({ partition: 1, maxRecords: 2, manifest });
    await Promise.all([
      (async () => {
        for (let i = 0; i < 5; i++) await w0.append(String(i), `{"p":0,"i":${i}}`, 0, { versions: ['a'] });
      })(),
      (async () => {
        for (let i = 0; i < 4; i++) await w1.append(String(i + 10), `{"p":1,"i":${i}}`, 0, { versions: ['b'] });
      })(),
    ]);
    // Partition 0 still has offset 4 open; recovering partition 1 must not touch it.
    await PartitionShardWriter.recover(storage, dir, TOPIC, 1);
    expect(files(shardDir())).toContain(shardFileName(TOPIC, 0, '4'));
    const doc = JSON.parse(fs.readFileSync(path.join(shardDir(), 'manifest.json'), 'utf8')) as ShardManifest;
    expect(doc.shards.map((s) => [s.partition, s.startOffset, s.endOffset])).toEqual([
      [0, '0', '1'],
      [0, '2', '3'],
      [1, '10', '11'],
      [1, '12', '13'],
    ]);
    expect(doc.partitions).toEqual([
      { topic: TOPIC, partition: 0, shards: 2, records: 4, startOffset: '0', endOffset: '3' },
      { topic: TOPIC, partition: 1, shards: 2, records: 4, startOffset: '10', endOffset: '13' },
    ]);
    expect(doc.totals).toMatchObject({ shards: 4, records: 8, offsets: 8, versions: ['a', 'b'] });
    // The manifest through a fresh reader (no cache) is the same document.
    expect(await new Manifest(storage, dir).write()).toEqual(doc);
    await w0.abort();
  });
});
