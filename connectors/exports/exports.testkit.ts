// A small OD dataset directory as the merge leaves it (merged/train.odvg.jsonl, label_map.json,
// content-addressed images/), for the export tests: odd image sizes and a large one (rounding),
// boxes on the image edges, a background-only image, an unused category, and the `valor` key
// review metadata may add to a record.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OdvgInstance } from '../sinks/odvg';
import { MERGED_FILE } from '../sinks/odvg-merge';
import type { TrainingImage } from './training-set';

/** 'yellow star' is in the label map but on no box. */
export const LABELS = ['red circle', 'blue square', 'green triangle', 'yellow star'];

const inst = (bbox: [number, number, number, number], label: number): OdvgInstance => ({ bbox, label, category: LABELS[label]! });

/** The images, keyed by a short name; filenames are filled in by writeDataset. */
export const IMAGES: Array<Omit<TrainingImage, 'filename'> & { key: string }> = [
  {
    key: 'odd',
    width: 641,
    height: 479,
    // Edges of the clamped range [0, W-1] x [0, H-1], a 1-px box, overlapping categories.
    instances: [inst([0, 0, 640, 478], 0), inst([17, 33, 18, 34], 1), inst([100, 200, 333, 401], 2), inst([100, 200, 333, 401], 0)],
  },
  { key: 'large', width: 4000, height: 3000, instances: [inst([1, 2, 3999, 2999], 1), inst([1234, 567, 2345, 1789], 2)] },
  { key: 'background', width: 320, height: 240, instances: [] },
  { key: 'small', width: 7, height: 5, instances: [inst([1, 1, 6, 4], 0)] },
];

/**
 * Writes the dataset under `dir`: one fake image file per record (the exports never decode
 * them), the label map and the merged set sorted by filename. Returns the records as written.
 */
export function writeDataset(dir: string, images = IMAGES): TrainingImage[] {
  const records = images.map(({ key, ...img }) => {
    const bytes = Buffer.from(`fake image ${key}`);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const filename = `images/${sha.slice(0, 2)}/${sha}.png`;
    fs.mkdirSync(path.join(dir, path.dirname(filename)), { recursive: true });
    fs.writeFileSync(path.join(dir, filename), bytes);
    return { filename, ...img };
  });
  records.sort((a, b) => (a.filename < b.filename ? -1 : 1));
  fs.writeFileSync(path.join(dir, 'label_map.json'), JSON.stringify(Object.fromEntries(LABELS.map((l, i) => [String(i), l]))));
  fs.mkdirSync(path.join(dir, 'merged'), { recursive: true });
  const line = (r: TrainingImage, i: number) =>
    JSON.stringify({
      filename: r.filename,
      height: r.height,
      width: r.width,
      detection: { instances: r.instances },
      ...(i === 0 ? { valor: { negatives: ['x'] } } : {}),
    });
  fs.writeFileSync(path.join(dir, MERGED_FILE), records.map((r, i) => line(r, i) + '\n').join(''));
  return records;
}

/** Every box of the records as `filename|label|x1,y1,x2,y2`, sorted: what each round trip must give back. */
export const boxKeys = (records: TrainingImage[]): string[] =>
  records.flatMap((r) => r.instances.map((i) => `${r.filename}|${i.label}|${i.bbox.join(',')}`)).sort();
