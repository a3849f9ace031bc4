// `export odvg` in-process: the merged set of an existing dataset directory, its counts, where
// it goes (with and without --out), mode inference, and a refusal on a directory with no shards.
// `export coco|yolo|labelstudio`: each rebuilds the merged set from the shards first, writes
// from it, reports what its format check read back, and fails on a VG set or a broken export.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { ExportCheckError } from '../../connectors/exports/export-checks';
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

/** The merged file's lines without the review metadata (`valor`) the merge may add: not what these tests are about. */
const withoutValor = (text: string): string =>
  text
    .split('\n')
    .map((l) => (l ? JSON.stringify({ ...JSON.parse(l), valor: undefined }) : l))
    .join('\n');

/** The image files the records name (the detection exports check that they exist). */
function images(dir: string, ...files: string[]): void {
  for (const f of files) {
    fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), f);
  }
}

describe('valor-stream export', () => {
  let work: string;
  let out: string[];
  const exportCmd = async (format: string, ...args: string[]) => {
    const program = new Command().exitOverride();
    registerExportCommand(program);
    await program.parseAsync(['export', format, ...args], { from: 'user' });
  };
  const run = (...args: string[]) => exportCmd('odvg', ...args);
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
    expect(withoutValor(fs.readFileSync(path.join(dir, MERGED_FILE), 'utf8'))).toBe(
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
    expect(JSON.parse(withoutValor(fs.readFileSync(path.join(dir, MERGED_FILE), 'utf8')))).toEqual({
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

  describe('coco, yolo and labelstudio', () => {
    const labelMap = { '0': 'cat', '1': 'dog' };
    let dir: string;
    beforeEach(async () => {
      dir = path.join(work, 'ds');
      await dataset(dir, odShards, labelMap);
      images(dir, A, B);
    });

    it('coco: rebuilds the merged set first, writes the JSON and prints what the check read back', async () => {
      const file = path.join(work, 'out', 'coco.json');
      await exportCmd('coco', '--dataset', dir, '--out', file);
      // Rebuilt from the shards (the fixture wrote none) and dataset.json pointed at it, as `export odvg` does.
      expect(fs.existsSync(path.join(dir, MERGED_FILE))).toBe(true);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8')).train[0].anno).toBe(path.join(dir, MERGED_FILE));
      const coco = JSON.parse(fs.readFileSync(file, 'utf8'));
      expect(coco.images.map((i: any) => i.file_name)).toEqual([`../ds/${A}`, `../ds/${B}`]);
      expect(coco.annotations.map((a: any) => [a.image_id, a.category_id, a.bbox])).toEqual([
        [1, 1, [1, 1, 9, 9]],
        [1, 2, [20, 20, 10, 10]],
      ]);
      expect(out).toEqual([
        `merged set rebuilt: ${path.join(dir, MERGED_FILE)} (2 images, 2 boxes, from 2 shard(s))`,
        `coco: 2 images, 2 boxes, 2 categories, format check passed -> ${file}`,
        `image root (file_name is relative to it): ${path.dirname(file)}`,
      ]);
    });

    it('yolo: links (or with --copy copies) the images and writes labels and data.yaml', async () => {
      const yolo = path.join(work, 'yolo');
      await exportCmd('yolo', '--dataset', dir, '--out', yolo);
      expect(fs.readFileSync(path.join(yolo, 'labels', 'aa.txt'), 'utf8')).toBe(
        '0 0.055000 0.055000 0.090000 0.090000\n1 0.250000 0.250000 0.100000 0.100000\n',
      );
      expect(fs.readFileSync(path.join(yolo, 'labels', 'bb.txt'), 'utf8')).toBe('');
      expect(fs.lstatSync(path.join(yolo, 'images', 'aa.png')).isSymbolicLink()).toBe(true);
      expect(out[1]).toBe(`yolo: 2 images, 2 boxes, 2 categories, format check passed -> ${path.join(yolo, 'data.yaml')}`);
      expect(out[2]).toBe('images linked: 2 (the others were already in place)');
      await exportCmd('yolo', '--dataset', dir, '--out', yolo, '--copy');
      expect(fs.lstatSync(path.join(yolo, 'images', 'aa.png')).isFile()).toBe(true);
      expect(out[5]).toBe('images copied: 2 (the others were already in place)');
    });

    it('labelstudio: writes tasks in percent with the given image URL prefix, and the labeling config', async () => {
      const file = path.join(work, 'ls', 'tasks.json');
      await exportCmd('labelstudio', '--dataset', dir, '--out', file, '--image-url-prefix', 'http://files/ds/', '--model-version', 'round-2');
      const tasks = JSON.parse(fs.readFileSync(file, 'utf8'));
      expect(tasks.map((t: any) => t.data.image)).toEqual([`http://files/ds/${A}`, `http://files/ds/${B}`]);
      expect(tasks[0].predictions[0].model_version).toBe('round-2');
      expect(tasks[0].predictions[0].result.map((r: any) => r.value)).toEqual([
        { x: 1, y: 1, width: 9, height: 9, rotation: 0, rectanglelabels: ['cat'] },
        { x: 20, y: 20, width: 10, height: 10, rotation: 0, rectanglelabels: ['dog'] },
      ]);
      expect(out[1]).toBe(`labelstudio: 2 images, 2 boxes, 2 categories, format check passed -> ${file}`);
      expect(out[2]).toBe(`labeling config: ${path.join(work, 'ls', 'tasks.label-config.xml')}`);
      expect(out).toHaveLength(3); // no local-files hint with a custom prefix
      await exportCmd('labelstudio', '--dataset', dir, '--out', file);
      expect(JSON.parse(fs.readFileSync(file, 'utf8'))[0].data.image).toBe(`/data/local-files/?d=${A}`);
      expect(out[6]).toContain(`LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=${dir}`);
    });

    it('fails loudly when the written export breaks its format', async () => {
      // A box past its 100x100 image: the merge keeps what the shards say, COCO's check refuses it.
      const bad = path.join(work, 'bad');
      await dataset(bad, [[od(A, [[[50, 50, 120, 60], 0, 'cat']])]], labelMap);
      images(bad, A);
      const err = await exportCmd('coco', '--dataset', bad, '--out', path.join(work, 'bad.json')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExportCheckError);
      expect((err as Error).message).toMatch(/annotation 1: bbox \[50, 50, 70, 10\] leaves its 100x100 image/);
      await expect(exportCmd('labelstudio', '--dataset', bad, '--out', path.join(work, 'bad-ls.json'))).rejects.toThrow(/x \+ width or y \+ height > 100/);
    });
  });

  it.each(['coco', 'yolo', 'labelstudio'])('%s refuses a VG dataset', async (format) => {
    const dir = path.join(work, 'vg');
    await dataset(dir, [[vg(A, [[[1, 1, 10, 10], 'cat']])]]);
    await expect(exportCmd(format, '--dataset', dir, '--out', path.join(work, `out-${format}`))).rejects.toThrow(
      /is a VG \(grounding\) dataset: its records carry phrases, not label-map classes/,
    );
    expect(fs.existsSync(path.join(work, `out-${format}`))).toBe(false);
  });
});
