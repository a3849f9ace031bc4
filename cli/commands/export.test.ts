// `export odvg` in-process: the merged set of an existing dataset directory, its counts, where
// it goes (with and without --out), mode inference, and a refusal on a directory with no shards.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { MERGED_FILE } from '../../connectors/sinks/odvg-merge';
import { LocalFileStorage } from '../../connectors/sinks/shard-storage';
import { PartitionShardWriter } from '../../connectors/sinks/shard-writer';
import { registerExportCommand } from './export';

const od = (filename: string, instances: Array<[number[], number, string]>) =>
  JSON.stringify({ filename, height: 100, width: 100, detection: { instances: instances.map(([bbox, label, category]) => ({ bbox, label, category })) } });
const vg = (filename: string, regions: Array<[number[], string]>) =>
  JSON.stringify({ filename, height: 100, width: 100, grounding: { caption: 'x .', regions: regions.map(([bbox, phrase]) => ({ bbox, phrase })) } });

/** A dataset directory whose shards hold `byPartition` lines (no images: the merge never opens them). */
async function dataset(dir: string, byPartition: string[][], labelMap?: Record<string, string>): Promise<void> {
  const storage = new LocalFileStorage(dir);
  for (const [p, lines] of byPartition.entries()) {
    const w = await PartitionShardWriter.open({ storage, dir: 'shards', topic: 'valor.pseudo-labels', partition: p });
    for (const [i, l] of lines.entries()) await w.append(String(i), l, 1000 + i);
    await w.close();
  }
  if (labelMap) fs.writeFileSync(path.join(dir, 'label_map.json'), JSON.stringify(labelMap));
}

describe('valor-stream export odvg', () => {
  let work: string;
  let out: string[];
  const run = async (...args: string[]) => {
    const program = new Command().exitOverride();
    registerExportCommand(program);
    await program.parseAsync(['export', 'odvg', ...args], { from: 'user' });
  };
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-export-'));
    out = [];
    jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const A = 'images/aa/aa.png';
  const B = 'images/bb/bb.png';
  const odShards = [
    [od(B, []), od(A, [[[1, 1, 10, 10], 0, 'cat']])],
    [
      od(A, [
        [[20, 20, 30, 30], 1, 'dog'],
        [[1, 1, 10, 10], 0, 'cat'],
      ]),
    ],
  ];

  it('rebuilds the merged set in the dataset, points dataset.json at it and prints the counts', async () => {
    const dir = path.join(work, 'ds');
    await dataset(dir, odShards, { '0': 'cat', '1': 'dog' });
    await run('--dataset', dir);
    expect(fs.readFileSync(path.join(dir, MERGED_FILE), 'utf8')).toBe(
      [
        od(A, [
          [[1, 1, 10, 10], 0, 'cat'],
          [[20, 20, 30, 30], 1, 'dog'],
        ]),
        od(B, []),
        '',
      ].join('\n'),
    );
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'))).toEqual({
      train: [{ root: dir, anno: path.join(dir, MERGED_FILE), label_map: path.join(dir, 'label_map.json'), dataset_mode: 'odvg' }],
    });
    expect(out[0]).toBe(
      'odvg od: 3 per-query records in 2 shard(s) -> 2 image records, 2 instances (1 exact duplicates removed, 1 background-only, 0 of the other mode left out)',
    );
    expect(out[1]).toBe(`merged set: ${path.join(dir, MERGED_FILE)}`);
    expect(out[2]).toContain(path.join(dir, 'dataset.json'));
  });

  it('writes only the --out file when given one, byte-identical to the in-dataset set', async () => {
    const dir = path.join(work, 'ds');
    await dataset(dir, odShards, { '0': 'cat', '1': 'dog' });
    const file = path.join(work, 'elsewhere', 'train.jsonl');
    await run('--dataset', dir, '--out', file);
    expect(fs.existsSync(path.join(dir, 'dataset.json'))).toBe(false);
    expect(fs.existsSync(path.join(dir, MERGED_FILE))).toBe(false);
    await run('--dataset', dir);
    expect(fs.readFileSync(file)).toEqual(fs.readFileSync(path.join(dir, MERGED_FILE)));
    expect(out[1]).toBe(`merged set: ${file}`);
    expect(out[2]).toBe(`image root for its filenames: ${dir}`);
  });

  it('infers VG from the records and needs no label map there', async () => {
    const dir = path.join(work, 'vg');
    await dataset(dir, [[vg(A, [[[1, 1, 10, 10], 'cat']])], [vg(A, [[[5, 5, 9, 9], 'a dog']])]]);
    await run('--dataset', dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, MERGED_FILE), 'utf8'))).toEqual({
      filename: A,
      height: 100,
      width: 100,
      grounding: {
        caption: 'a dog . cat .',
        regions: [
          { bbox: [5, 5, 9, 9], phrase: 'a dog' },
          { bbox: [1, 1, 10, 10], phrase: 'cat' },
        ],
      },
    });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8')).train[0].label_map).toBeNull();
    expect(out[0]).toMatch(/^odvg vg: 2 per-query records in 2 shard\(s\) -> 1 image records, 2 instances/);
  });

  it('refuses a directory without finished shards and creates nothing there', async () => {
    const dir = path.join(work, 'empty');
    fs.mkdirSync(dir);
    await expect(run('--dataset', dir)).rejects.toThrow(/is not an ODVG dataset with finished shards/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
