// Read-back checks of the exported files against each format's rules. The CLI runs them on
// what it just wrote and fails when one breaks, so a bad export never reaches a trainer or a
// review queue; the tests run them too, on exports and on crafted violations.
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ExportCounts } from './training-set';
import { YOLO_DATA_YAML } from './yolo';

export interface CheckResult extends ExportCounts {
  problems: string[];
}

export class ExportCheckError extends Error {
  constructor(
    readonly format: string,
    readonly problems: string[],
  ) {
    const shown = problems.slice(0, 20).join('\n  - ');
    super(`the ${format} export breaks its format (${problems.length} problem(s)):\n  - ${shown}${problems.length > 20 ? '\n  - …' : ''}`);
  }
}

/** The counts of a clean result; throws ExportCheckError listing the problems otherwise. */
export function assertValid(format: string, r: CheckResult): ExportCounts {
  if (r.problems.length) throw new ExportCheckError(format, r.problems);
  return { images: r.images, boxes: r.boxes, categories: r.categories };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const posInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

/**
 * COCO detection: unique image, annotation and category ids; every annotation's image and
 * category exist; bbox [x, y, w, h] with w, h > 0 inside its image; area = w * h. With
 * `imageRoot` (the JSON's directory) every file_name must exist there.
 */
export function validateCoco(doc: unknown, opts: { imageRoot?: string } = {}): CheckResult {
  const problems: string[] = [];
  const res = (images = 0, boxes = 0, categories = 0) => ({ problems, images, boxes, categories });
  if (!isObj(doc) || !Array.isArray(doc.images) || !Array.isArray(doc.annotations) || !Array.isArray(doc.categories))
    return (problems.push('not a COCO object with images, annotations and categories arrays'), res());
  const images = new Map<unknown, Obj>();
  for (const im of doc.images as unknown[]) {
    if (!isObj(im) || !Number.isInteger(im.id) || !posInt(im.width) || !posInt(im.height) || typeof im.file_name !== 'string' || !im.file_name) {
      problems.push(`image ${JSON.stringify(im)}: needs an integer id, file_name and positive integer width and height`);
      continue;
    }
    if (images.has(im.id)) problems.push(`image id ${im.id} is used twice`);
    images.set(im.id, im);
    if (opts.imageRoot && !existsSync(path.join(opts.imageRoot, im.file_name)))
      problems.push(`image ${im.id}: ${im.file_name} does not exist under ${opts.imageRoot}`);
  }
  const categories = new Set<unknown>();
  for (const c of doc.categories as unknown[]) {
    if (!isObj(c) || !Number.isInteger(c.id) || typeof c.name !== 'string' || !c.name)
      problems.push(`category ${JSON.stringify(c)}: needs an integer id and a name`);
    else if (categories.has(c.id)) problems.push(`category id ${c.id} is used twice`);
    else categories.add(c.id);
  }
  const annIds = new Set<unknown>();
  for (const a of doc.annotations as unknown[]) {
    if (!isObj(a) || !Number.isInteger(a.id)) {
      problems.push(`annotation ${JSON.stringify(a)}: needs an integer id`);
      continue;
    }
    const at = `annotation ${a.id}`;
    if (annIds.has(a.id)) problems.push(`annotation id ${a.id} is used twice`);
    annIds.add(a.id);
    const im = images.get(a.image_id);
    if (!im) problems.push(`${at}: image_id ${String(a.image_id)} is not an image`);
    if (!categories.has(a.category_id)) problems.push(`${at}: category_id ${String(a.category_id)} is not a category`);
    if (a.iscrowd !== 0 && a.iscrowd !== 1) problems.push(`${at}: iscrowd must be 0 or 1`);
    const b = a.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every(num)) {
      problems.push(`${at}: bbox must be [x, y, w, h]`);
      continue;
    }
    const [x, y, w, h] = b as number[];
    if (!(w! > 0 && h! > 0)) problems.push(`${at}: bbox [${b.join(', ')}] has no area (w and h must be > 0)`);
    if (im && (x! < 0 || y! < 0 || x! + w! > (im.width as number) || y! + h! > (im.height as number)))
      problems.push(`${at}: bbox [${b.join(', ')}] leaves its ${String(im.width)}x${String(im.height)} image`);
    if (!num(a.area) || Math.abs(a.area - w! * h!) > 1e-6 * Math.max(1, w! * h!)) problems.push(`${at}: area ${String(a.area)} is not w*h = ${w! * h!}`);
  }
  return res(images.size, annIds.size, categories.size);
}

// YOLO values have 6 decimals, so an edge computed from centre and size may pass 0 or 1 by
// rounding; a box outside by more than that is a real error.
const YOLO_EPS = 1e-6;

/** data.yaml as this exporter writes it: top-level `key: value`, and `names` as an indented `id: name` map. */
export function parseDataYaml(text: string): { nc?: number; names: Map<number, string>; keys: Set<string>; problems: string[] } {
  const names = new Map<number, string>();
  const keys = new Set<string>();
  const problems: string[] = [];
  let nc: number | undefined;
  let inNames = false;
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = /^(\s*)([^:]+):\s*(.*)$/.exec(line);
    if (!m) {
      problems.push(`data.yaml: cannot read line '${line}'`);
      continue;
    }
    const [, indent, rawKey, rawValue] = m as unknown as [string, string, string, string];
    const key = rawKey.trim();
    // A double-quoted value is JSON-escaped (as written here), so a '#' in it is not a comment.
    const value = rawValue.startsWith('"') ? rawValue.trim() : rawValue.replace(/\s+#.*$/, '').trim();
    let scalar = value.replace(/^'(.*)'$/, '$1');
    if (value.startsWith('"'))
      try {
        scalar = JSON.parse(value) as string;
      } catch {
        problems.push(`data.yaml: cannot read the quoted value of '${key}'`);
      }
    if (indent && inNames) {
      const id = Number(key);
      if (!Number.isInteger(id) || names.has(id)) problems.push(`data.yaml: names key '${key}' is not a new integer id`);
      else names.set(id, scalar);
      continue;
    }
    keys.add(key);
    inNames = key === 'names' && (value === '' || value === '{}');
    if (key === 'nc') nc = Number(value);
  }
  return { nc, names, keys, problems };
}

/**
 * A YOLO directory: data.yaml with train / val and as many names (ids 0..nc-1) as nc; every
 * label line `class cx cy w h` with class in [0, nc), values in [0, 1], w, h > 0 and the box
 * inside the image; every label file has its image (and every image its label file).
 */
export async function validateYolo(dir: string): Promise<CheckResult> {
  const problems: string[] = [];
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, YOLO_DATA_YAML), 'utf8');
  } catch {
    return { problems: [`${YOLO_DATA_YAML} is missing`], images: 0, boxes: 0, categories: 0 };
  }
  const yaml = parseDataYaml(text);
  problems.push(...yaml.problems);
  for (const k of ['train', 'val', 'nc', 'names']) if (!yaml.keys.has(k)) problems.push(`data.yaml has no '${k}'`);
  const nc = yaml.nc ?? -1;
  if (!Number.isInteger(nc) || nc < 0) problems.push(`data.yaml: nc must be a non-negative integer`);
  if (yaml.names.size !== nc) problems.push(`data.yaml: ${yaml.names.size} names but nc is ${nc}`);
  for (const id of yaml.names.keys()) if (id < 0 || id >= nc) problems.push(`data.yaml: names id ${id} is outside 0..${nc - 1}`);

  const list = (sub: string) => fs.readdir(path.join(dir, sub)).catch(() => (problems.push(`${sub}/ is missing`), [] as string[]));
  const imageStems = new Set<string>();
  for (const name of await list('images')) {
    if (name.startsWith('.')) continue;
    if (!existsSync(path.join(dir, 'images', name))) problems.push(`images/${name} does not open (a dangling link?)`);
    imageStems.add(path.parse(name).name);
  }
  const labelStems = new Set<string>();
  let boxes = 0;
  for (const name of await list('labels')) {
    if (name.startsWith('.')) continue;
    const stem = path.parse(name).name;
    labelStems.add(stem);
    if (!name.endsWith('.txt')) problems.push(`labels/${name} is not a .txt file`);
    if (!imageStems.has(stem)) problems.push(`labels/${name} has no image in images/`);
    const lines = (await fs.readFile(path.join(dir, 'labels', name), 'utf8')).split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      boxes++;
      const at = `labels/${name}:${i + 1}`;
      const f = line.trim().split(/\s+/);
      if (f.length !== 5) return void problems.push(`${at}: ${f.length} fields, not 5 (class cx cy w h)`);
      const cls = Number(f[0]);
      if (!Number.isInteger(cls) || cls < 0 || cls >= nc) problems.push(`${at}: class ${f[0]} is not in [0, ${nc})`);
      const [cx, cy, w, h] = f.slice(1).map(Number) as [number, number, number, number];
      if (![cx, cy, w, h].every((v) => Number.isFinite(v) && v >= 0 && v <= 1)) return void problems.push(`${at}: values must be numbers in [0, 1]`);
      if (!(w > 0 && h > 0)) problems.push(`${at}: the box has no area`);
      if (cx - w / 2 < -YOLO_EPS || cy - h / 2 < -YOLO_EPS || cx + w / 2 > 1 + YOLO_EPS || cy + h / 2 > 1 + YOLO_EPS)
        problems.push(`${at}: the box leaves the image`);
    });
  }
  for (const stem of imageStems) if (!labelStems.has(stem)) problems.push(`images/${stem}.* has no label file`);
  return { problems, images: imageStems.size, boxes, categories: Math.max(nc, 0) };
}

// Percentages are floats computed from pixels; only a real excess is an error.
const LS_EPS = 1e-9;

/**
 * Label Studio tasks with rectanglelabels predictions: data.image set; result ids unique;
 * x, y, width, height in [0, 100] with x + width <= 100 and y + height <= 100, width,
 * height > 0; original size positive; every label one of `labels` (when given).
 */
export function validateLabelStudio(tasks: unknown, labels?: string[]): CheckResult {
  const problems: string[] = [];
  if (!Array.isArray(tasks)) return { problems: ['not a JSON list of tasks'], images: 0, boxes: 0, categories: 0 };
  const known = labels ? new Set(labels) : null;
  const used = new Set<string>();
  const ids = new Set<string>();
  tasks.forEach((t: unknown, ti) => {
    const at = `task ${ti}`;
    if (!isObj(t) || !isObj(t.data) || typeof t.data.image !== 'string' || !t.data.image) return void problems.push(`${at}: needs data.image`);
    if (!Array.isArray(t.predictions)) return void problems.push(`${at}: needs a predictions list`);
    for (const p of t.predictions as unknown[]) {
      if (!isObj(p) || !Array.isArray(p.result)) {
        problems.push(`${at}: a prediction needs a result list`);
        continue;
      }
      for (const r of p.result as unknown[]) {
        const id = isObj(r) ? r.id : undefined;
        const rat = `${at} result ${String(id)}`;
        if (!isObj(r) || typeof id !== 'string' || !id) {
          problems.push(`${at}: a result needs a string id`);
          continue;
        }
        if (ids.has(id)) problems.push(`${rat}: id is used twice`);
        ids.add(id);
        if (r.type !== 'rectanglelabels' || typeof r.from_name !== 'string' || typeof r.to_name !== 'string')
          problems.push(`${rat}: needs type 'rectanglelabels', from_name and to_name`);
        if (!posInt(r.original_width) || !posInt(r.original_height)) problems.push(`${rat}: original_width and original_height must be positive integers`);
        const v = r.value;
        if (!isObj(v) || ![v.x, v.y, v.width, v.height].every(num)) {
          problems.push(`${rat}: value needs numbers x, y, width, height`);
          continue;
        }
        const [x, y, w, h] = [v.x, v.y, v.width, v.height] as number[];
        if (![x, y, w, h].every((n) => n! >= 0 && n! <= 100)) problems.push(`${rat}: x, y, width, height must be percent in [0, 100]`);
        if (!(w! > 0 && h! > 0)) problems.push(`${rat}: the box has no area`);
        if (x! + w! > 100 + LS_EPS || y! + h! > 100 + LS_EPS) problems.push(`${rat}: the box leaves the image (x + width or y + height > 100)`);
        if ((v.rotation ?? 0) !== 0) problems.push(`${rat}: rotation must be 0 (boxes are axis-aligned)`);
        const rl = v.rectanglelabels;
        if (!Array.isArray(rl) || !rl.length || !rl.every((l) => typeof l === 'string'))
          problems.push(`${rat}: rectanglelabels must be a non-empty list of names`);
        else
          for (const l of rl as string[]) {
            used.add(l);
            if (known && !known.has(l)) problems.push(`${rat}: label '${l}' is not in the label map`);
          }
      }
    }
  });
  return { problems, images: tasks.length, boxes: ids.size, categories: labels ? labels.length : used.size };
}

/** Reads and checks a written export; throws ExportCheckError on a violation. */
export async function checkCocoFile(file: string): Promise<ExportCounts> {
  const doc: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
  return assertValid('coco', validateCoco(doc, { imageRoot: path.dirname(path.resolve(file)) }));
}
export async function checkYoloDir(dir: string): Promise<ExportCounts> {
  return assertValid('yolo', await validateYolo(dir));
}
export async function checkLabelStudioFile(file: string, labels?: string[]): Promise<ExportCounts> {
  return assertValid('labelstudio', validateLabelStudio(JSON.parse(await fs.readFile(file, 'utf8')), labels));
}
