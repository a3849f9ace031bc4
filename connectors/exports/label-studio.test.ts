// Label Studio export round trip: percent coordinates convert back to the same pixels, every
// image is a task (a background one with an empty prediction), image URLs follow the
// local-files convention or a given prefix, and the labeling config matches the results.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateLabelStudio } from './export-checks';
import { boxKeys, LABELS, writeDataset } from './exports.testkit';
import { imageUrl, labelingConfig, lsResultXyxy, writeLabelStudio, type LsTask } from './label-studio';
import { loadTrainingSet, type TrainingImage } from './training-set';

describe('Label Studio export', () => {
  let work: string;
  let ds: string;
  let records: TrainingImage[];
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-ls-'));
    ds = path.join(work, 'ds');
    records = writeDataset(ds);
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  const exportTo = async (file: string, opts = {}) => {
    const r = await writeLabelStudio(await loadTrainingSet(ds), file, opts);
    return { ...r, tasks: JSON.parse(fs.readFileSync(file, 'utf8')) as LsTask[] };
  };

  it('gives back every box from percent to the same pixels and passes its check', async () => {
    const { tasks } = await exportTo(path.join(work, 'tasks.json'));
    expect(validateLabelStudio(tasks, LABELS)).toEqual({ problems: [], images: 4, boxes: 7, categories: 4 });
    const back = tasks.flatMap((t) =>
      t.predictions[0]!.result.map((r) => {
        const xyxy = lsResultXyxy(r);
        const px = xyxy.map((v) => Math.round(v));
        xyxy.forEach((v, i) => expect(Math.abs(v - px[i]!)).toBeLessThan(1e-9));
        return `${t.data.filename}|${LABELS.indexOf(r.value.rectanglelabels[0]!)}|${px.join(',')}`;
      }),
    );
    expect(back.sort()).toEqual(boxKeys(records));
  });

  it('writes results the way the docs show them: percent of the original size, top-left corner, unique ids', async () => {
    const { tasks } = await exportTo(path.join(work, 'tasks.json'), { modelVersion: 'run-7' });
    const small = tasks.find((t) => t.data.filename === records.find((r) => r.width === 7)!.filename)!;
    expect(small.predictions).toEqual([
      {
        model_version: 'run-7',
        result: [
          {
            id: expect.any(String),
            type: 'rectanglelabels',
            from_name: 'label',
            to_name: 'image',
            original_width: 7,
            original_height: 5,
            image_rotation: 0,
            value: { x: (1 / 7) * 100, y: 20, width: (5 / 7) * 100, height: 60, rotation: 0, rectanglelabels: ['red circle'] },
          },
        ],
      },
    ]);
    const ids = tasks.flatMap((t) => t.predictions[0]!.result.map((r) => r.id));
    expect(new Set(ids).size).toBe(7);
    // One task per image, in order; the background image's prediction has no region.
    expect(tasks.map((t) => t.data.filename)).toEqual(records.map((r) => r.filename));
    const bg = records.findIndex((r) => r.instances.length === 0);
    expect(tasks[bg]!.predictions).toEqual([{ model_version: 'run-7', result: [] }]);
  });

  it('points images at Label Studio local files by default, or under a given prefix, URL-encoded', async () => {
    const file = path.join(work, 'tasks.json');
    let { tasks } = await exportTo(file);
    expect(tasks.map((t) => t.data.image)).toEqual(records.map((r) => `/data/local-files/?d=${r.filename}`));
    ({ tasks } = await exportTo(file, { imageUrlPrefix: 'https://cdn.example/ds/' }));
    expect(tasks[0]!.data.image).toBe(`https://cdn.example/ds/${records[0]!.filename}`);
    expect(imageUrl('images/a b/c&d#.png')).toBe('/data/local-files/?d=images/a%20b/c%26d%23.png');
  });

  it('writes a labeling config beside the tasks with every category, escaped', async () => {
    const { config } = await exportTo(path.join(work, 'review', 'tasks.json'));
    expect(config).toBe(path.join(work, 'review', 'tasks.label-config.xml'));
    const xml = fs.readFileSync(config, 'utf8');
    expect(xml).toContain('<Image name="image" value="$image"/>');
    expect(xml).toContain('<RectangleLabels name="label" toName="image">');
    for (const l of LABELS) expect(xml).toContain(`<Label value="${l}"/>`);
    expect(labelingConfig(['a "b" <c> & d'])).toContain('<Label value="a &quot;b&quot; &lt;c&gt; &amp; d"/>');
  });
});
