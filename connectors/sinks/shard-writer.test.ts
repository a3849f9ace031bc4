// The writer: rotation, offsets in order, skips, and byte-identical re-runs. Recovery, the
// manifest and the SIGKILL test have their own files beside this one.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ShardInputError, nextOffset, type ShardInfo } from './shard-files';
import { verifyShard } from './shard-recovery';
import { LocalFileStorage } from './shard-storage';
import { PartitionShardWriter, type ShardWriterOptions } from './shard-writer';

const TOPIC = 'valor.pseudo-labels';

function files(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

function readLines(root: string, dir: string, shards: ShardInfo[]): string[] {
  return shards.flatMap((s) =>
    fs
      .readFileSync(path.join(root, dir, s.file), 'utf8')
      .split('\n')
      .filter(Boolean),
  );
}

describe('PartitionShardWriter', () => {
  let root: string;
  let storage: LocalFileStorage;
  const dir = 'shards';
  const shardDir = (): string => path.join(root, dir);
  const open = (o: Partial<ShardWriterOptions> = {}): Promise<PartitionShardWriter> =>
    PartitionShardWriter.open({ storage, dir, topic: TOPIC, partition: 2, ...o });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-shard-writer-'));
    storage = new LocalFileStorage(root);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('names shards by zero-padded offsets and rotates by record count', async () => {
    const w = await open({ maxRecords: 3 });
    const closed: ShardInfo[] = [];
    for (let i = 0; i < 8; i++) closed.push(...(await w.append(String(i), JSON.stringify({ i }), 1000 + i)));
    expect(closed.map((s) => [s.startOffset, s.endOffset, s.records])).toEqual([
      ['0', '2', 3],
      ['3', '5', 3],
    ]);
    expect(files(shardDir())).toContain(`${TOPIC}+2+00000000000000000006.jsonl.tmp`);
    const last = await w.closeShard();
    expect(last).toMatchObject({ startOffset: '6', endOffset: '7', records: 2, offsets: 2 });
    expect(await w.flush()).toBeNull();
    expect(closed[0]!.file).toBe(`${TOPIC}+2+00000000000000000000+00000000000000000002.jsonl`);
    expect(files(shardDir())).toEqual([
      'manifest.json',
      `${TOPIC}+2+00000000000000000000+00000000000000000002.jsonl`,
      `${TOPIC}+2+00000000000000000000+00000000000000000002.jsonl.meta.json`,
      `${TOPIC}+2+00000000000000000003+00000000000000000005.jsonl`,
      `${TOPIC}+2+00000000000000000003+00000000000000000005.jsonl.meta.json`,
      `${TOPIC}+2+00000000000000000006+00000000000000000007.jsonl`,
      `${TOPIC}+2+00000000000000000006+00000000000000000007.jsonl.meta.json`,
    ]);
    expect(readLines(root, dir, [...closed, last!])).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => JSON.stringify({ i })));
    expect(nextOffset(last!)).toBe('8');
  });

  it('rotates by bytes before a line would overflow, and gives an oversized line its own shard', async () => {
    const w = await open({ maxBytes: 20 });
    const lines = ['"aaaaaaa"', '"bbbbbbb"', '"ccccccccccccccccccccccccc"', '"d"', '"eeeeeeeeeeeeeee"'];
    const closed: ShardInfo[] = [];
    for (const [i, l] of lines.entries()) closed.push(...(await w.append(String(i), l, 0)));
    closed.push((await w.closeShard())!);
    // 10 + 10 bytes fill a shard exactly; the 27-byte line stands alone; 4 + 18 would overflow.
    expect(closed.map((s) => [s.startOffset, s.endOffset, s.bytes])).toEqual([
      ['0', '1', 20],
      ['2', '2', 28],
      ['3', '3', 4],
      ['4', '4', 18],
    ]);
    for (const s of closed) await verifyShard(storage, dir, s);
  });

  it('rotates by record time, never by the wall clock', async () => {
    const w = await open({ maxSpanMs: 100 });
    const times = [1000, 1050, 990, 1099, 1100, 1150, 1250];
    const closed: ShardInfo[] = [];
    for (const [i, t] of times.entries()) closed.push(...(await w.append(String(i), `{"t":${t}}`, t)));
    // 1100 >= 1000 + 100 opens a new shard; an earlier time (990) does not; 1250 >= 1100 + 100.
    expect(closed.map((s) => [s.startOffset, s.endOffset, s.firstRecordTimeMs, s.lastRecordTimeMs])).toEqual([
      ['0', '3', 1000, 1099],
      ['4', '5', 1100, 1150],
    ]);
    expect(w.openShard).toMatchObject({ startOffset: '6', records: 1 });
    await w.abort();
  });

  it('makes byte-identical files when re-run from the same offsets', async () => {
    const run = async (sub: string): Promise<Map<string, Buffer>> => {
      const s = new LocalFileStorage(path.join(root, sub));
      const w = await PartitionShardWriter.open({ storage: s, dir, topic: TOPIC, partition: 0, maxRecords: 7, maxBytes: 300, maxSpanMs: 500 });
      for (let i = 0; i < 60; i++) {
        if (i % 9 === 4) await w.skip(String(i), i * 37);
        else await w.append(String(i), JSON.stringify({ i, pad: 'x'.repeat(i % 13) }), i * 37, { signature: `s${i}`, versions: [`m${i % 2}`] });
      }
      await w.close();
      const d = path.join(root, sub, dir);
      return new Map(files(d).map((f) => [f, fs.readFileSync(path.join(d, f))]));
    };
    const a = await run('a');
    const b = await run('b');
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, bytes] of a) expect(b.get(name)!.equals(bytes)).toBe(true);
  });

  it('resumes after the last finished shard, refuses offsets it already has, and allows gaps', async () => {
    const w = await open({ maxRecords: 3 });
    for (const o of ['5', '6', '9']) await w.append(o, `{"o":${o}}`, 0, { signature: `sig-${o}` });
    await w.close();
    await expect(w.append('10', '{}', 0)).rejects.toThrow(ShardInputError);
    const w2 = await open({ maxRecords: 3 });
    expect(w2.recovery.resumeOffset).toBe('10');
    expect(w2.recovery.shards.map((s) => [s.startOffset, s.endOffset, s.offsets])).toEqual([['5', '9', 3]]);
    expect(w2.signatures.has('sig-6')).toBe(true);
    await expect(w2.append('9', '{}', 0)).rejects.toThrow(/offset 9 is not after the last offset 9/);
    await expect(w2.append('3', '{}', 0)).rejects.toBeInstanceOf(ShardInputError);
    // A compaction gap: 10..99 are gone from the topic.
    await w2.append('100', '{"o":100}', 0);
    await expect(w2.append('100', '{}', 0)).rejects.toThrow(/offset 100 is not after/);
    expect((await w2.closeShard())!.startOffset).toBe('100');
  });

  it('refuses bad input and names the offset', async () => {
    const w = await open();
    await expect(w.append('-1', '{}', 0)).rejects.toThrow(/offset '-1' is not a Kafka offset/);
    await expect(w.append('1e3', '{}', 0)).rejects.toThrow(ShardInputError);
    await expect(w.append('99999999999999999999', '{}', 0)).rejects.toThrow(ShardInputError);
    await expect(w.append('1', '{"a":\n1}', 0)).rejects.toThrow(/offset 1: a line must be non-empty and hold no newline/);
    await expect(w.append('1', '{}', Number.NaN)).rejects.toThrow(/offset 1: record time NaN/);
    // None of those consumed offset 1.
    await w.append('1', '{}', 0);
    await w.abort();
    expect(() => new PartitionShardWriter({ storage, dir, topic: 'a+b', partition: 0 }, { resumeOffset: null, signatures: new Set(), shards: [] })).toThrow(
      /not a valid Kafka topic/,
    );
  });

  it('counts skips towards the shard and publishes a shard of only skips as an empty file', async () => {
    const w = await open({ maxRecords: 3 });
    await w.append('0', '{"a":0}', 0, { signature: 'a' });
    await w.skip('1');
    const [mixed] = await w.skip('2');
    expect(mixed).toMatchObject({ startOffset: '0', endOffset: '2', records: 1, offsets: 3 });
    await w.skip('3');
    await w.skip('5');
    const onlySkips = await w.closeShard();
    expect(onlySkips).toMatchObject({ startOffset: '3', endOffset: '5', records: 0, offsets: 2, bytes: 0, firstRecordTimeMs: null });
    expect(fs.statSync(path.join(shardDir(), onlySkips!.file)).size).toBe(0);
    await verifyShard(storage, dir, onlySkips!);
    const rec = await PartitionShardWriter.recover(storage, dir, TOPIC, 2);
    expect(rec.resumeOffset).toBe('6');
    expect(rec.shards).toEqual([mixed, onlySkips]);
  });
});
