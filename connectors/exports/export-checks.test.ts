// Each check passes a real export and catches a crafted violation of its format's rules.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toCoco, type CocoDataset } from './coco';
import {
  assertValid,
  checkCocoFile,
  checkLabelStudioFile,
  checkYoloDir,
  ExportCheckError,
  parseDataYaml,
  validateCoco,
  validateLabelStudio,
  validateYolo,
} from './export-checks';
import { LABELS, writeDataset } from './exports.testkit';
import { toLabelStudio, type LsTask } from './label-studio';
import { loadTrainingSet, type TrainingSet } from './training-set';
import { writeYolo } from './yolo';

describe('export checks', () => {
  let work: string;
  let set: TrainingSet;
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-export-checks-'));
    writeDataset(path.join(work, 'ds'));
    set = await loadTrainingSet(path.join(work, 'ds'));
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  describe('COCO', () => {
    const coco = (): CocoDataset => toCoco(set, set.root);
    const problems = (doc: unknown) => validateCoco(doc, { imageRoot: set.root }).problems;

    it('passes an export', () => expect(problems(coco())).toEqual([]));

    it.each<[string, (c: CocoDataset) => void, RegExp]>([
      ['a duplicate annotation id', (c) => (c.annotations[1]!.id = c.annotations[0]!.id), /annotation id 1 is used twice/],
      ['a duplicate image id', (c) => (c.images[1]!.id = c.images[0]!.id), /image id 1 is used twice/],
      [
        'a bbox past the right edge',
        (c) => (c.annotations[0]!.bbox[0] = c.images[0]!.width - c.annotations[0]!.bbox[2] + 1),
        /annotation 1: bbox .* leaves its \d+x\d+ image/,
      ],
      ['a negative y', (c) => (c.annotations[0]!.bbox[1] = -1), /annotation 1: bbox .* leaves its/],
      ['a zero width', (c) => ((c.annotations[0]!.bbox[2] = 0), (c.annotations[0]!.area = 0)), /annotation 1: bbox .* has no area/],
      ['a wrong area', (c) => (c.annotations[0]!.area += 1), /annotation 1: area \d+ is not w\*h/],
      ['an unknown category', (c) => (c.annotations[0]!.category_id = 99), /annotation 1: category_id 99 is not a category/],
      ['an unknown image', (c) => (c.annotations[0]!.image_id = 99), /annotation 1: image_id 99 is not an image/],
      ['a missing image file', (c) => (c.images[0]!.file_name = 'images/none.png'), /image 1: images\/none.png does not exist/],
      [
        'xyxy instead of xywh',
        (c) => c.annotations.forEach((a) => (a.bbox = [a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]])),
        /leaves its/,
      ],
    ])('catches %s', (_what, spoil, message) => {
      const c = coco();
      spoil(c);
      // The named problem is among those found (one violation may break two rules).
      expect(problems(c)).toContainEqual(expect.stringMatching(message));
    });

    it('fails loudly on a written file, listing the problems', async () => {
      const c = coco();
      c.annotations[1]!.id = c.annotations[0]!.id;
      const file = path.join(set.root, 'bad-coco.json');
      fs.writeFileSync(file, JSON.stringify(c));
      const err = await checkCocoFile(file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExportCheckError);
      expect((err as ExportCheckError).problems).toEqual(['annotation id 1 is used twice']);
      expect((err as Error).message).toMatch(/^the coco export breaks its format \(1 problem\(s\)\):\n {2}- annotation id 1 is used twice$/);
    });
  });

  describe('YOLO', () => {
    let dir: string;
    let label: string;
    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(work, 'yolo-'));
      await writeYolo(set, dir);
      label = path.join(dir, 'labels', `${path.parse(set.images.find((i) => i.instances.length > 1)!.filename).name}.txt`);
    });
    const setLine = (line: string) => fs.writeFileSync(label, line + '\n');
    const problems = async () => (await validateYolo(dir)).problems;

    it('passes an export', async () => expect(await checkYoloDir(dir)).toEqual({ images: 4, boxes: 7, categories: 4 }));

    it.each<[string, string, RegExp]>([
      ['a value above 1', '0 0.5 1.000001 0.2 0.2', /:1: values must be numbers in \[0, 1\]/],
      ['a box that leaves the image', '0 0.95 0.5 0.2 0.2', /:1: the box leaves the image/],
      ['a class beyond nc', '4 0.5 0.5 0.2 0.2', /:1: class 4 is not in \[0, 4\)/],
      ['a fractional class', '1.5 0.5 0.5 0.2 0.2', /:1: class 1.5 is not in/],
      ['four fields', '0 0.5 0.5 0.2', /:1: 4 fields, not 5/],
      ['a zero-size box', '0 0.5 0.5 0 0.2', /:1: the box has no area/],
    ])('catches %s', async (_what, line, message) => {
      setLine(line);
      expect(await problems()).toEqual([expect.stringMatching(message)]);
    });

    it('catches a label file without its image and an image without its label file', async () => {
      fs.writeFileSync(path.join(dir, 'labels', 'orphan.txt'), '');
      fs.rmSync(label);
      expect((await problems()).sort()).toEqual([
        expect.stringMatching(/^images\/[0-9a-f]{64}\.\* has no label file$/),
        'labels/orphan.txt has no image in images/',
      ]);
    });

    it('catches a dangling image link and a names count that is not nc', async () => {
      const yaml = path.join(dir, 'data.yaml');
      fs.writeFileSync(yaml, fs.readFileSync(yaml, 'utf8').replace('nc: 4', 'nc: 5'));
      fs.symlinkSync(path.join(work, 'nowhere.png'), path.join(dir, 'images', 'dangling.png'));
      fs.writeFileSync(path.join(dir, 'labels', 'dangling.txt'), '');
      expect(await problems()).toEqual(['data.yaml: 4 names but nc is 5', 'images/dangling.png does not open (a dangling link?)']);
    });

    it('reads quoted names with YAML-significant characters', () => {
      const y = parseDataYaml('nc: 2\nnames:\n  0: "a #1: \\"b\\""\n  1: plain # comment\ntrain: images\nval: images\n');
      expect(y).toMatchObject({ nc: 2, problems: [] });
      expect([...y.names]).toEqual([
        [0, 'a #1: "b"'],
        [1, 'plain'],
      ]);
    });
  });

  describe('Label Studio', () => {
    const tasks = (): LsTask[] => toLabelStudio(set);
    const first = (t: LsTask[]) => t.find((x) => x.predictions[0]!.result.length)!.predictions[0]!.result[0]!;
    const problems = (t: unknown) => validateLabelStudio(t, LABELS).problems;

    it('passes an export', () => expect(problems(tasks())).toEqual([]));

    it.each<[string, (r: ReturnType<typeof first>) => void, RegExp]>([
      ['a percent above 100', (r) => (r.value.width = 100.5), /must be percent in \[0, 100\]/],
      ['x + width past 100', (r) => ((r.value.x = 60), (r.value.width = 41)), /leaves the image \(x \+ width or y \+ height > 100\)/],
      ['pixels instead of percent', (r) => (r.value.y = 300), /must be percent in \[0, 100\]/],
      ['a label not in the label map', (r) => (r.value.rectanglelabels = ['purple hexagon']), /label 'purple hexagon' is not in the label map/],
      ['no label', (r) => (r.value.rectanglelabels = []), /rectanglelabels must be a non-empty list/],
      ['a rotated box', (r) => (r.value.rotation = 30 as 0), /rotation must be 0/],
    ])('catches %s', (_what, spoil, message) => {
      const t = tasks();
      spoil(first(t));
      expect(problems(t)).toContainEqual(expect.stringMatching(message));
    });

    it('catches a result id used twice and a task without an image', () => {
      const t = tasks();
      const results = t.flatMap((x) => x.predictions[0]!.result);
      const last = results[results.length - 1]!;
      last.id = results[0]!.id; // in another task
      const lastTask = t.findIndex((x) => x.predictions[0]!.result.includes(last));
      const bg = t.findIndex((x) => !x.predictions[0]!.result.length);
      (t[bg]!.data as { image?: string }).image = '';
      expect(problems(t)).toEqual([`task ${bg}: needs data.image`, `task ${lastTask} result ${results[0]!.id}: id is used twice`]);
    });

    it('fails loudly on a written file', async () => {
      const t = tasks();
      first(t).value.height = 101;
      const file = path.join(work, 'bad-tasks.json');
      fs.writeFileSync(file, JSON.stringify(t));
      await expect(checkLabelStudioFile(file, LABELS)).rejects.toThrow(/^the labelstudio export breaks its format/);
      expect(() => assertValid('x', { problems: [], images: 1, boxes: 2, categories: 3 })).not.toThrow();
    });
  });
});
