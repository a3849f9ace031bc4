// COCO export round trip: every ODVG box comes back exactly from [x, y, w, h], background
// images stay as images without annotations, ids are consistent, file_name resolves to the
// dataset's image from the JSON's directory, and the output is byte-stable.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeCoco, type CocoDataset } from './coco';
import { validateCoco } from './export-checks';
import { boxKeys, LABELS, writeDataset } from './exports.testkit';
import { loadTrainingSet, NotOdDatasetError, type TrainingImage } from './training-set';

describe('COCO export', () => {
  let work: string;
  let ds: string;
  let records: TrainingImage[];
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-coco-'));
    ds = path.join(work, 'ds');
    records = writeDataset(ds);
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  const exportTo = async (file: string): Promise<CocoDataset> => {
    await writeCoco(await loadTrainingSet(ds), file);
    return JSON.parse(fs.readFileSync(file, 'utf8')) as CocoDataset;
  };

  it('gives back every box exactly, keeps background images and passes its check', async () => {
    const file = path.join(work, 'exports', 'coco.json');
    const coco = await exportTo(file);
    expect(validateCoco(coco, { imageRoot: path.dirname(file) })).toEqual({ problems: [], images: 4, boxes: 7, categories: 4 });

    const byId = new Map(coco.images.map((im) => [im.id, im]));
    const cats = new Map(coco.categories.map((c) => [c.id, c.name]));
    const back = coco.annotations.map((a) => {
      const im = byId.get(a.image_id)!;
      const [x, y, w, h] = a.bbox;
      expect(a.area).toBe(w * h);
      const filename = path
        .relative(ds, path.resolve(path.dirname(file), im.file_name))
        .split(path.sep)
        .join('/');
      const label = LABELS.indexOf(cats.get(a.category_id)!);
      return `${filename}|${label}|${[x, y, x + w, y + h].join(',')}`;
    });
    expect(back.sort()).toEqual(boxKeys(records));

    // One image per record, in the merged file's order, with its size; the background one has no annotation.
    expect(coco.images.map((im) => [im.id, im.width, im.height])).toEqual(records.map((r, i) => [i + 1, r.width, r.height]));
    const bg = records.findIndex((r) => r.instances.length === 0);
    expect(coco.annotations.filter((a) => a.image_id === bg + 1)).toEqual([]);
    expect(coco.images[bg]!.file_name).toBe(`../ds/${records[bg]!.filename}`);
  });

  it('numbers categories label id + 1, lists unused ones, and numbers images and annotations from 1', async () => {
    const coco = await exportTo(path.join(work, 'coco.json'));
    expect(coco.categories).toEqual(LABELS.map((name, i) => ({ id: i + 1, name, supercategory: 'object' })));
    expect(coco.annotations.map((a) => a.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const first = records[0]!.instances[0]!;
    expect(coco.annotations[0]).toMatchObject({ image_id: 1, category_id: first.label + 1, iscrowd: 0 });
    expect(coco).toMatchObject({ licenses: [], info: { description: expect.stringContaining(ds) } });
  });

  it('names images by their ODVG filename when written at the dataset root, and writes the same bytes every time', async () => {
    const file = path.join(ds, 'coco.json');
    const coco = await exportTo(file);
    expect(coco.images.map((im) => im.file_name)).toEqual(records.map((r) => r.filename));
    const bytes = fs.readFileSync(file);
    await exportTo(file);
    expect(fs.readFileSync(file)).toEqual(bytes);
    expect(fs.readdirSync(ds).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses a VG merged set and a label that the label map names differently', async () => {
    const merged = path.join(ds, 'merged', 'train.odvg.jsonl');
    fs.writeFileSync(merged, JSON.stringify({ filename: 'a.png', width: 9, height: 9, grounding: { caption: 'x .', regions: [] } }) + '\n');
    await expect(loadTrainingSet(ds)).rejects.toThrow(NotOdDatasetError);
    await expect(loadTrainingSet(ds)).rejects.toThrow(/VG \(grounding\) record/);
    const inst = { bbox: [1, 1, 2, 2], label: 1, category: 'red circle' };
    fs.writeFileSync(merged, JSON.stringify({ filename: 'a.png', width: 9, height: 9, detection: { instances: [inst] } }) + '\n');
    await expect(loadTrainingSet(ds)).rejects.toThrow(/label 1, which label_map.json names 'blue square'/);
  });
});
