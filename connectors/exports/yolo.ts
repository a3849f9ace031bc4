// YOLO (Ultralytics) detection layout from the merged training set:
//   <out>/images/<image file>   the dataset's images, symlinked (default) or copied (--copy)
//   <out>/labels/<stem>.txt     one `class cx cy w h` line per box, normalised, 6 decimals
//   <out>/data.yaml             path, train/val, nc, names {id: name}
// - class = label id, and names lists every label-map category in id order, so a class index
//   means the same category in every export and in the ODVG set.
// - Ultralytics finds a label file by replacing /images/ with /labels/ in the image path and
//   the extension with .txt, so both sides use the image's basename (a sha256: unique).
// - Symlinks by default: the content-addressed store can be large and is already on disk;
//   --copy makes a self-contained directory to ship elsewhere (reflinked where the FS can).
//   Symlinks are absolute, so the export directory itself may move, the dataset may not.
// - Background-only images get an empty label file: Ultralytics counts them as backgrounds.
// - train and val both name images/: the set has no split; split it downstream if needed.
// - The directory is rewritten in place, stale files removed (review verdicts may drop
//   images), which is only done in a directory that is empty or a previous YOLO export.
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { imagePath, writeFileAtomic, type TrainingSet } from './training-set';

export const YOLO_DATA_YAML = 'data.yaml';
/** Marks a directory as a YOLO export, the only kind this writer removes files from. */
export const YOLO_MARKER = '.valor-stream-yolo-export';

/** One label line: class and the box's centre and size as fractions of the image, 6 decimals. */
export function yoloLine(bbox: readonly number[], label: number, width: number, height: number): string {
  const [x1, y1, x2, y2] = bbox as [number, number, number, number];
  const f = (v: number) => v.toFixed(6);
  return `${label} ${f((x1 + x2) / 2 / width)} ${f((y1 + y2) / 2 / height)} ${f((x2 - x1) / width)} ${f((y2 - y1) / height)}`;
}

/** data.yaml: names as a map (id: name), strings JSON-quoted, which is valid YAML double-quoted. */
export function dataYaml(dir: string, labels: string[], root: string): string {
  const names = labels.map((n, i) => `  ${i}: ${JSON.stringify(n)}`);
  return [
    `# valor-stream export yolo of ${root}`,
    `path: ${JSON.stringify(path.resolve(dir))}`,
    'train: images',
    'val: images',
    `nc: ${labels.length}`,
    labels.length ? 'names:' : 'names: {}',
    ...names,
    '',
  ].join('\n');
}

export interface YoloWrite {
  images: number;
  boxes: number;
  /** Images linked or copied this time (the rest were already in place). */
  placed: number;
}

export async function writeYolo(set: TrainingSet, out: string, opts: { copy?: boolean } = {}): Promise<YoloWrite> {
  const dir = path.resolve(out);
  await prepare(dir);
  const images = new Map<string, string>(); // export image name -> source file
  const labels = new Map<string, string>(); // label file name -> contents
  let boxes = 0;
  for (const img of set.images) {
    const name = path.basename(img.filename);
    const src = imagePath(set, img);
    if (images.has(name)) throw new Error(`two images are named ${name} (${images.get(name)} and ${src}): YOLO pairs labels with images by file name`);
    images.set(name, src);
    const lines = img.instances.map((i) => yoloLine(i.bbox, i.label, img.width, img.height));
    boxes += lines.length;
    labels.set(`${path.parse(name).name}.txt`, lines.length ? lines.join('\n') + '\n' : '');
  }
  if (labels.size !== images.size) throw new Error('two images share a file stem: YOLO pairs labels with images by stem');
  await removeOthers(path.join(dir, 'labels'), labels);
  await removeOthers(path.join(dir, 'images'), images);
  let placed = 0;
  await inBatches([...images], async ([name, src]) => {
    if (await place(src, path.join(dir, 'images', name), opts.copy ?? false)) placed++;
  });
  await inBatches([...labels], ([name, text]) => fs.writeFile(path.join(dir, 'labels', name), text));
  // Last: a data.yaml means the export finished.
  await writeFileAtomic(path.join(dir, YOLO_DATA_YAML), dataYaml(dir, set.labels, set.root));
  return { images: images.size, boxes, placed };
}

/** Refuses a directory that holds anything but a previous export; drops data.yaml until the new one is done. */
async function prepare(dir: string): Promise<void> {
  const entries = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  if (entries.length && !entries.includes(YOLO_MARKER))
    throw new Error(`${dir} is not empty and not a valor-stream YOLO export: give a new or empty directory (the export removes stale files in it)`);
  await fs.mkdir(path.join(dir, 'labels'), { recursive: true });
  await fs.mkdir(path.join(dir, 'images'), { recursive: true });
  await fs.writeFile(path.join(dir, YOLO_MARKER), 'valor-stream export yolo\n');
  await fs.rm(path.join(dir, YOLO_DATA_YAML), { force: true });
}

async function removeOthers(dir: string, keep: Map<string, string>): Promise<void> {
  for (const name of await fs.readdir(dir)) if (!keep.has(name)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
}

/** Links or copies `src` to `dst` unless the right thing is already there; true when it placed one. */
async function place(src: string, dst: string, copy: boolean): Promise<boolean> {
  const want = await fs.stat(src).catch((err: unknown) => {
    throw new Error(`image ${src} of the training set is missing`, { cause: err });
  });
  const have = await fs.lstat(dst).catch(() => null);
  if (have) {
    if (copy ? have.isFile() && have.size === want.size : have.isSymbolicLink() && (await fs.readlink(dst)) === src) return false;
    await fs.rm(dst, { force: true });
  }
  if (copy) {
    // Through a temp: a copy cut short must not keep the final name.
    const tmp = `${dst}.${process.pid}.tmp`;
    await fs.copyFile(src, tmp, constants.COPYFILE_FICLONE);
    await fs.rename(tmp, dst);
  } else await fs.symlink(src, dst);
  return true;
}

async function inBatches<T>(items: T[], fn: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += 32) await Promise.all(items.slice(i, i + 32).map(fn));
}
