// Shard names and metas: the writer, recovery and the manifest read the directory through these.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLOSED_DATA, ShardCorruptionError, ShardInputError, checkTopicPartition, metaFileName, nextOffset, readMeta, shardFileName } from './shard-files';
import { LocalFileStorage } from './shard-storage';
import { PartitionShardWriter } from './shard-writer';

const TOPIC = 'valor.pseudo-labels';

describe('shard names', () => {
  it('pads offsets to 20 digits, so names sort in offset order', () => {
    expect(shardFileName(TOPIC, 2, '7')).toBe(`${TOPIC}+2+00000000000000000007.jsonl.tmp`);
    expect(shardFileName(TOPIC, 2, 7n, '12')).toBe(`${TOPIC}+2+00000000000000000007+00000000000000000012.jsonl`);
    const names = [
      [100, 199],
      [9, 99],
      [0, 8],
    ].map(([a, b]) => shardFileName(TOPIC, 0, String(a), String(b)));
    expect([...names].sort()).toEqual([...names].reverse());
    expect(metaFileName(names[0]!)).toBe(`${names[0]}.meta.json`);
    expect(CLOSED_DATA.exec(shardFileName(TOPIC, 11, '9223372036854775806', '9223372036854775807'))!.slice(1)).toEqual([
      TOPIC,
      '11',
      '09223372036854775806',
      '09223372036854775807',
    ]);
    expect(CLOSED_DATA.test(shardFileName(TOPIC, 0, '5'))).toBe(false);
  });

  it('gives the next offset exactly, beyond what a double holds', () => {
    expect(nextOffset({ endOffset: '9' })).toBe('10');
    expect(nextOffset({ endOffset: '9007199254740993' })).toBe('9007199254740994');
  });

  it('refuses topics that are not Kafka topic names and negative partitions', () => {
    expect(() => checkTopicPartition('a+b', 0)).toThrow(ShardInputError);
    expect(() => checkTopicPartition('', 0)).toThrow(/not a valid Kafka topic name/);
    expect(() => checkTopicPartition(TOPIC, -1)).toThrow(/partition -1 of valor.pseudo-labels is not a non-negative integer/);
    expect(() => checkTopicPartition(TOPIC, 1.5)).toThrow(ShardInputError);
    expect(() => checkTopicPartition(TOPIC, 0)).not.toThrow();
  });
});

describe('readMeta', () => {
  let root: string;
  beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-shard-files-'))));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('checks a meta against its data file name and size', async () => {
    const storage = new LocalFileStorage(root);
    const w = await PartitionShardWriter.open({ storage, dir: 'shards', topic: TOPIC, partition: 0, maxRecords: 2 });
    await w.append('4', '{"a":1}', 0, { signature: 's4' });
    const [shard] = await w.append('5', '{"a":2}', 0, { signature: 's5' });
    const meta = await readMeta(storage, 'shards', shard!.file, shard!.bytes);
    expect(meta).toMatchObject({ format: 'valor-shard-meta/1', ...shard, signatures: ['s4', 's5'] });
    await expect(readMeta(storage, 'shards', shard!.file, shard!.bytes + 1)).rejects.toThrow(/has 17 bytes but its meta records 16/);
    // A meta copied next to another data file describes the wrong offsets.
    const other = shardFileName(TOPIC, 0, '4', '6');
    fs.copyFileSync(path.join(root, 'shards', metaFileName(shard!.file)), path.join(root, 'shards', metaFileName(other)));
    const err = await readMeta(storage, 'shards', other, shard!.bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardCorruptionError);
    expect((err as Error).message).toMatch(/describes valor.pseudo-labels\+0 offsets 4\.\.5 .* not valor.pseudo-labels\+0\+0*4\+0*6\.jsonl/);
  });
});
