// COCO detection JSON from the merged training set.
//
// - bbox: ODVG's absolute xyxy becomes [x, y, w, h] with w = x2 - x1, h = y2 - y1, the inverse
//   of Open-GroundingDino's own COCO -> ODVG converter (tools/coco2odvg.py: xyxy = [x, y, x + w,
//   y + h]), so a set converted there and back is unchanged. area = w * h (boxes, no masks).
// - category_id = label id + 1: COCO's ids start at 1, several trainers treat 0 as
//   background, and coco2odvg.py's own id map goes the other way (COCO id 1 -> label 0). Every label-map category is listed, used or not, so an id means the same
//   category in every export of the dataset, as the label id does.
// - image ids: 1.. in the merged file's order (sorted by filename), annotation ids 1.. in
//   record then box order: the same set always exports to the same bytes.
// - file_name: the image's path relative to the JSON's directory, so the image root to give a
//   COCO loader is the directory the JSON is in (written at the dataset root, file_name is the
//   ODVG `filename` itself). Images are not copied: the content-addressed store already holds
//   each once.
// - Background-only images (no instances) are listed with no annotations: COCO loaders keep
//   them as negatives when told to (e.g. filter_empty_gt=False).
import * as path from 'node:path';
import { VERSION } from '../../core/version';
import { imagePath, jsonArrayChunks, relPosix, writeFileAtomic, type TrainingSet } from './training-set';

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}
export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  bbox: [number, number, number, number];
  area: number;
  iscrowd: 0 | 1;
}
export interface CocoCategory {
  id: number;
  name: string;
  supercategory: string;
}
export interface CocoDataset {
  info: { description: string; version: string };
  licenses: unknown[];
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

/** COCO's category id for a label id (see the header). */
export const cocoCategoryId = (label: number): number => label + 1;

/** The COCO dataset of a training set, whose JSON is to be written in `jsonDir`. */
export function toCoco(set: TrainingSet, jsonDir: string): CocoDataset {
  const images: CocoImage[] = [];
  const annotations: CocoAnnotation[] = [];
  set.images.forEach((img, i) => {
    const id = i + 1;
    images.push({ id, file_name: relPosix(path.resolve(jsonDir), imagePath(set, img)), width: img.width, height: img.height });
    for (const { bbox, label } of img.instances) {
      const [x1, y1, x2, y2] = bbox;
      const w = x2 - x1;
      const h = y2 - y1;
      annotations.push({ id: annotations.length + 1, image_id: id, category_id: cocoCategoryId(label), bbox: [x1, y1, w, h], area: w * h, iscrowd: 0 });
    }
  });
  const categories = set.labels.map((name, label) => ({ id: cocoCategoryId(label), name, supercategory: 'object' }));
  return { info: { description: `valor-stream pseudo-labels (${set.root})`, version: VERSION }, licenses: [], images, annotations, categories };
}

/** Writes the COCO JSON atomically; one image / annotation / category per line. */
export async function writeCoco(set: TrainingSet, file: string): Promise<CocoDataset> {
  const coco = toCoco(set, path.dirname(path.resolve(file)));
  const head = `{\n  "info": ${JSON.stringify(coco.info)},\n  "licenses": [],\n`;
  await writeFileAtomic(file, [
    Buffer.from(head + '  "images": '),
    ...jsonArrayChunks(coco.images, '  '),
    Buffer.from(',\n  "annotations": '),
    ...jsonArrayChunks(coco.annotations, '  '),
    Buffer.from(',\n  "categories": '),
    ...jsonArrayChunks(coco.categories, '  '),
    Buffer.from('\n}\n'),
  ]);
  return coco;
}
