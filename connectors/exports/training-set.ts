// The one input of every export: the merged training set (merged/train.odvg.jsonl, one OD
// record per image) and label_map.json of a dataset directory. Exports read the same file
// Open-GroundingDino trains on, so whatever the merge decides (de-duplication, background
// images, review verdicts) reaches COCO, YOLO and Label Studio too.
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { parseLabelMap, type OdvgInstance } from '../sinks/odvg';
import { LABEL_MAP_FILE } from '../sinks/odvg-format';
import { MERGED_FILE } from '../sinks/odvg-merge';
import { LocalFileStorage } from '../sinks/shard-storage';

export interface TrainingImage {
  /** Relative to the dataset root, as in the ODVG record. */
  filename: string;
  width: number;
  height: number;
  /** bbox: absolute-pixel xyxy; label: the label-map id. */
  instances: OdvgInstance[];
}

export interface TrainingSet {
  /** Absolute dataset root: image files are `root/filename`. */
  root: string;
  /** Category names by label id (label_map.json). */
  labels: string[];
  /** Sorted by filename, as the merge writes them. */
  images: TrainingImage[];
}

/** What each export reports, counted from the written file as read back by its check. */
export interface ExportCounts {
  images: number;
  boxes: number;
  categories: number;
}

/** A grounding (VG) set: its records have phrases, not label-map ids, so no detection format can hold them. */
export class NotOdDatasetError extends Error {}

/** Reads `<root>/merged/train.odvg.jsonl` (or `file`) and the label map; ignores other top-level keys (`valor`). */
export async function loadTrainingSet(root: string, file?: string): Promise<TrainingSet> {
  const abs = path.resolve(root);
  const labels = parseLabelMap(await fs.readFile(path.join(abs, LABEL_MAP_FILE), 'utf8'));
  const anno = file ?? path.join(abs, MERGED_FILE);
  const images: TrainingImage[] = [];
  let n = 0;
  const lines = createInterface({ input: createReadStream(anno), crlfDelay: Infinity });
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    const where = `${anno}:${n}`;
    const r = JSON.parse(line) as { filename?: unknown; width?: unknown; height?: unknown; detection?: { instances?: unknown }; grounding?: unknown };
    if (!r.detection && r.grounding)
      throw new NotOdDatasetError(`${where} is a VG (grounding) record: COCO, YOLO and Label Studio exports need an OD dataset (detection.instances)`);
    const { filename, width, height } = r;
    if (typeof filename !== 'string' || !isSize(width) || !isSize(height) || !Array.isArray(r.detection?.instances))
      throw new Error(`${where}: not an ODVG OD record {filename, width, height, detection.instances}`);
    const instances = (r.detection.instances as OdvgInstance[]).map((i) => {
      const name = labels[i.label];
      if (name === undefined || name !== i.category)
        throw new Error(`${where}: instance '${i.category}' has label ${i.label}, which label_map.json names '${name}'`);
      return { bbox: i.bbox, label: i.label, category: i.category };
    });
    images.push({ filename, width, height, instances });
  }
  return { root: abs, labels, images };
}

const isSize = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

/** Image file for a record. */
export const imagePath = (set: TrainingSet, img: TrainingImage): string => path.join(set.root, img.filename);

/** A JSON array one element per line: readable in a diff, and built in chunks so a big set stays under V8's string limit. */
export function jsonArrayChunks(items: unknown[], indent = ''): Buffer[] {
  const chunks: Buffer[] = [];
  let part = '[';
  items.forEach((item, i) => {
    part += `${i ? ',' : ''}\n${indent}  ${JSON.stringify(item)}`;
    if (part.length >= 1 << 22) {
      chunks.push(Buffer.from(part));
      part = '';
    }
  });
  chunks.push(Buffer.from(part + (items.length ? `\n${indent}]` : ']')));
  return chunks;
}

/** Writes a file by temp + rename, so a reader never sees half an export. */
export async function writeFileAtomic(file: string, data: string | Buffer | Buffer[]): Promise<void> {
  const abs = path.resolve(file);
  await new LocalFileStorage(path.dirname(abs)).writeAtomic(path.basename(abs), Array.isArray(data) ? Buffer.concat(data) : data);
}

/** A path relative to `from`, with forward slashes (the formats' files name images this way on every OS). */
export const relPosix = (from: string, to: string): string => path.relative(from, to).split(path.sep).join('/');
