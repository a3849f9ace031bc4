// YOLO export round trip: every box comes back from `class cx cy w h` to the same integer
// pixels (within 6-decimal rounding), background images get empty label files, class = label
// id and data.yaml names every category; re-exports remove what the set no longer has.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDataYaml, validateYolo } from './export-checks';
import { boxKeys, IMAGES, LABELS, writeDataset } from './exports.testkit';
import { loadTrainingSet, type TrainingImage } from './training-set';
import { writeYolo, YOLO_MARKER, yoloLine } from './yolo';

describe('YOLO export', () => {
  let work: string;
  let ds: string;
  let out: string;
  let records: TrainingImage[];
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-yolo-'));
    ds = path.join(work, 'ds');
    out = path.join(work, 'yolo');
    records = writeDataset(ds);
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  const exportYolo = async (copy = false) => writeYolo(await loadTrainingSet(ds), out, { copy });
  const stem = (r: TrainingImage) => path.parse(r.filename).name;

  it('writes cx cy w h normalised to 6 decimals', () => {
    expect(yoloLine([10, 20, 30, 60], 3, 100, 200)).toBe('3 0.200000 0.200000 0.200000 0.200000');
    expect(yoloLine([0, 0, 640, 478], 0, 641, 479)).toBe('0 0.499220 0.498956 0.998440 0.997912');
  });

  it('gives back every box to the pixel, with class = label id, and passes its check', async () => {
    expect(await exportYolo()).toEqual({ images: 4, boxes: 7, placed: 4 });
    expect(await validateYolo(out)).toEqual({ problems: [], images: 4, boxes: 7, categories: 4 });
    const back: string[] = [];
    for (const r of records) {
      const text = fs.readFileSync(path.join(out, 'labels', `${stem(r)}.txt`), 'utf8');
      for (const line of text.split('\n').filter(Boolean)) {
        const [cls, cx, cy, w, h] = line.split(' ').map(Number) as [number, number, number, number, number];
        const xyxy = [(cx - w / 2) * r.width, (cy - h / 2) * r.height, (cx + w / 2) * r.width, (cy + h / 2) * r.height];
        const px = xyxy.map((v) => Math.round(v));
        // 6 decimals: each edge is within 1e-6 of the image size of its integer.
        xyxy.forEach((v, i) => expect(Math.abs(v - px[i]!)).toBeLessThanOrEqual(1e-6 * (i % 2 ? r.height : r.width)));
        back.push(`${r.filename}|${cls}|${px.join(',')}`);
      }
    }
    expect(back.sort()).toEqual(boxKeys(records));
    const bg = records.find((r) => r.instances.length === 0)!;
    expect(fs.readFileSync(path.join(out, 'labels', `${stem(bg)}.txt`), 'utf8')).toBe('');
  });

  it('symlinks the dataset images by default, and names every category in data.yaml in id order', async () => {
    await exportYolo();
    for (const r of records) {
      const link = path.join(out, 'images', path.basename(r.filename));
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(link)).toBe(path.join(ds, r.filename));
    }
    const yaml = parseDataYaml(fs.readFileSync(path.join(out, 'data.yaml'), 'utf8'));
    expect(yaml.problems).toEqual([]);
    expect(yaml.nc).toBe(LABELS.length);
    expect([...yaml.names]).toEqual(LABELS.map((l, i) => [i, l]));
    expect(fs.readFileSync(path.join(out, 'data.yaml'), 'utf8')).toContain(`path: ${JSON.stringify(out)}\ntrain: images\nval: images\n`);
  });

  it('copies with --copy, replacing earlier links, and removes what a later set no longer has', async () => {
    await exportYolo();
    // A later merge drops the large image (a review verdict, say): its label and image must go.
    const dropped = records.find((r) => r.width === 4000)!;
    writeDataset(
      ds,
      IMAGES.filter((i) => i.key !== 'large'),
    );
    expect(await exportYolo(true)).toEqual({ images: 3, boxes: 5, placed: 3 });
    expect(fs.existsSync(path.join(out, 'labels', `${stem(dropped)}.txt`))).toBe(false);
    expect(fs.existsSync(path.join(out, 'images', path.basename(dropped.filename)))).toBe(false);
    for (const r of records.filter((r) => r !== dropped)) {
      const file = path.join(out, 'images', path.basename(r.filename));
      expect(fs.lstatSync(file).isFile()).toBe(true);
      expect(fs.readFileSync(file)).toEqual(fs.readFileSync(path.join(ds, r.filename)));
    }
    expect(await validateYolo(out)).toMatchObject({ problems: [], images: 3, boxes: 5 });
    // The copies are already in place: a second --copy run places nothing.
    expect(await exportYolo(true)).toMatchObject({ placed: 0 });
  });

  it('refuses a directory that is not empty and not an export, and leaves it alone', async () => {
    fs.mkdirSync(path.join(out, 'images'), { recursive: true });
    fs.writeFileSync(path.join(out, 'images', 'mine.jpg'), 'x');
    await expect(exportYolo()).rejects.toThrow(/is not empty and not a valor-stream YOLO export/);
    expect(fs.readdirSync(out, { recursive: true }).sort()).toEqual(['images', path.join('images', 'mine.jpg')]);
    expect(fs.existsSync(path.join(out, YOLO_MARKER))).toBe(false);
  });

  it('fails on a missing dataset image, naming it', async () => {
    fs.rmSync(path.join(ds, records[0]!.filename));
    await expect(exportYolo()).rejects.toThrow(`image ${path.join(ds, records[0]!.filename)} of the training set is missing`);
    expect(fs.existsSync(path.join(out, 'data.yaml'))).toBe(false);
  });
});
