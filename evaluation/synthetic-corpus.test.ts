import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { runProgram } from '../models/reward/python-sandbox';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { readCorpus } from '../connectors/corpus/corpus-reader';
import { scoreAnswer } from './answer-accuracy';
import { generateSyntheticCorpus, GroundTruthRecord, syntheticTruth } from './synthetic-corpus';
import { askedPhrases, simulateDetections } from './synthetic-proposals';
import { BBox, COLOR_RGB, COLORS, Color } from './synthetic-scene';

const COUNT = 25;
let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'synthetic-corpus-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const readJsonl = async <T>(file: string): Promise<T[]> =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);

async function generate(name: string, seed: number, extra: { width?: number; height?: number } = {}) {
  const outDir = path.join(root, name);
  const progress: Array<[number, number]> = [];
  const result = await generateSyntheticCorpus({ outDir, count: COUNT, seed, ...extra, onProgress: (d, t) => progress.push([d, t]) });
  return { outDir, result, progress };
}

describe('generateSyntheticCorpus', () => {
  let a: Awaited<ReturnType<typeof generate>>;
  let truth: GroundTruthRecord[];

  beforeAll(async () => {
    a = await generate('a', 7);
    truth = await readJsonl<GroundTruthRecord>(a.result.groundTruthFile);
  });

  it('writes the corpus, ground truth and one PNG per event, reporting progress', async () => {
    expect(a.result).toEqual({ corpusFile: path.join(a.outDir, 'corpus.jsonl'), groundTruthFile: path.join(a.outDir, 'ground-truth.jsonl'), count: COUNT });
    expect(truth).toHaveLength(COUNT);
    expect((await readdir(path.join(a.outDir, 'images'))).sort()).toEqual(truth.map((t) => `${t.id}.png`));
    expect(a.progress).toHaveLength(COUNT);
    expect(a.progress[COUNT - 1]).toEqual([COUNT, COUNT]);
  });

  it('is byte-identical for the same seed and differs for another seed', async () => {
    const b = await generate('b', 7);
    const c = await generate('c', 8);
    const same = async (file: string, other: string) =>
      expect((await readFile(path.join(other, file))).equals(await readFile(path.join(a.outDir, file)))).toBe(true);
    await same('corpus.jsonl', b.outDir);
    await same('ground-truth.jsonl', b.outDir);
    for (const t of truth) await same(t.image, b.outDir);

    expect(await readFile(c.result.corpusFile, 'utf8')).not.toBe(await readFile(a.result.corpusFile, 'utf8'));
    expect((await readFile(path.join(c.outDir, truth[0].image))).equals(await readFile(path.join(a.outDir, truth[0].image)))).toBe(false);
  });

  it('writes events the corpus reader accepts, phrases or a program naming the asked-about objects', async () => {
    const events = [];
    for await (const item of readCorpus(a.result.corpusFile)) {
      if (!item.ok) throw new Error(item.error);
      events.push(item.event);
    }
    expect(events).toHaveLength(COUNT);
    events.forEach((e, i) => {
      const t = truth[i];
      expect(e.id).toBe(t.id);
      expect(e.imageUri).toBe(path.join(a.outDir, 'images', `${t.id}.png`));
      expect(e.question).toBe(t.question);
      expect(e.metadata).toEqual({ corpus: 'synthetic', seed: '7' });
      // A spatial question names two of the objects; a counting one, a shape in every colour.
      const shape = /^How many (\w+)s are there\?$/.exec(t.question)?.[1];
      const asked = shape ? COLORS.map((c) => `${c} ${shape}`) : t.objects.map((o) => o.category).filter((c) => t.question.includes(c));
      expect(asked).toHaveLength(shape ? 4 : 2);
      if ((i + 1) % 5 === 0) {
        expect(e.program).toBe(t.program);
        expect(e.phrases).toEqual([]);
        expect(e.program).toMatch(/^<plan>1\. [\s\S]*<\/plan><answer>\n[\s\S]*final_answer = [\s\S]*\n<\/answer>$/);
        const call = /gd_detect\(img, "([^"]+)"\)/.exec(e.program!);
        expect(call![1].split(', ').sort()).toEqual([...asked].sort());
      } else {
        expect(e.program).toBeNull();
        expect([...e.phrases].sort()).toEqual([...asked].sort());
      }
    });
  });

  it("writes programs that run against the method's stub tools (the reward's syntax check scores them 1)", async () => {
    const programs: string[] = [];
    for await (const item of readCorpus(a.result.corpusFile)) if (item.ok && item.event.program) programs.push(item.event.program);
    expect(programs.length).toBeGreaterThan(0);
    for (const p of programs.slice(0, 3)) {
      const code = /<answer>([\s\S]*)<\/answer>/.exec(p)![1]!;
      const r = await runProgram(code, { timeoutMs: 5000 });
      expect([r.score, r.reason]).toEqual([1, r.reason]);
      expect(r.finalAnswer).toBeDefined();
    }
  });

  it('keeps the images of a seed byte for byte as they were before counting questions (golden sha256)', async () => {
    // Images 3, 5, 10 and 25 carry counting questions now; their pixels must not have moved.
    const golden: Record<string, string> = {
      'syn-000001': 'f0f7d8a665f34fd014dde9c09195420012f60f474402226afb3d4a1eaef10e8b',
      'syn-000002': 'e2a6b302e8de657a5069a225bcb2e2867300dccbf7eaecebc9026991455bc7d3',
      'syn-000003': '2845c015546306250f7d3f24cf2396210cf6c5154e07a68a6b328de190ab4a59',
      'syn-000005': '1bd29d7486eb2680ca6412152644778b49e6fde3adfeb857432c018745156522',
      'syn-000010': 'ba1c4710c0011a5bf01c33738fee768b91de24460e0a53cc66b650f1be8c482d',
      'syn-000025': '5f83d7f7c624f5d14142a0bb53a8f083efa744a5e317c6add79e8755ab6ec146',
    };
    const sha = async (id: string) =>
      createHash('sha256')
        .update(await readFile(path.join(a.outDir, 'images', `${id}.png`)))
        .digest('hex');
    for (const id of Object.keys(golden)) expect(`${id} ${await sha(id)}`).toBe(`${id} ${golden[id]}`);
    for (const id of ['syn-000003', 'syn-000005', 'syn-000010', 'syn-000025']) expect(truth.find((t) => t.id === id)!.question_type).toBe('count');
  });

  it('asks about a quarter of 200 images how many objects of a shape there are, answering the true count', () => {
    const records = Array.from({ length: 200 }, (_, i) => syntheticTruth(1, i));
    const counts = records.filter((r) => r.question_type === 'count');
    expect(counts.length).toBeGreaterThan(30);
    expect(counts.length).toBeLessThan(70);
    for (const r of counts) {
      const shape = /^How many (circle|square|triangle|star)s are there\?$/.exec(r.question)![1];
      const n = r.objects.filter((o) => o.category.endsWith(` ${shape}`)).length;
      expect(`${r.id} ${r.answer}`).toBe(`${r.id} ${n}`);
      expect(n).toBeGreaterThan(0);
    }
    // A shape held twice or more is preferred, so answers are not all "1".
    const answers = new Set(counts.map((r) => r.answer));
    expect(answers.has('1') && answers.has('2')).toBe(true);
    // Every record carries its reference program; the rest keep their spatial questions.
    for (const r of records) expect(r.program).toMatch(/^<plan>[\s\S]*<\/plan><answer>\ndets = gd_detect\(img, "[^"]+"\)\n[\s\S]*final_answer = /);
    expect(new Set(records.map((r) => r.question_type))).toEqual(new Set(['left', 'right', 'above', 'below', 'larger', 'count']));
  });

  it("writes reference programs that answer right from a detector's noisy output", async () => {
    // Simulated detections at inference thresholds: duplicates and loose boxes of one object
    // remain, which the counting program must fold into one.
    const picked = [...truth.filter((t) => t.question_type === 'count').slice(0, 4), ...truth.filter((t) => t.question_type !== 'count').slice(0, 3)];
    let extraBoxes = 0;
    for (const t of picked) {
      const dets = simulateDetections(t, askedPhrases(t), 3).filter((d) => d.score >= 0.35 && d.textScore >= 0.25);
      if (t.question_type === 'count') extraBoxes += dets.length - Number(t.answer);
      const code = /<answer>([\s\S]*)<\/answer>/.exec(t.program)![1]!;
      const impl = {
        gd_detect: async () => dets.map((d) => ({ bbox: [d.x1, d.y1, d.x2, d.y2], label: d.label })),
        depth: async () => 0,
        vqa: async () => '',
      };
      // Host tools take the image argument as plain data; the sandbox's stand-in `img` object is not.
      const r = await runProgram(`img = img_pth\n${code}`, { timeoutMs: 10_000, tools: { impl, maxCalls: 4 } });
      expect([t.id, r.reason]).toEqual([t.id, 'ok']);
      expect([t.id, scoreAnswer(r.finalAnswerValue, t.answer, t.question_type).score]).toEqual([t.id, 1]);
    }
    expect(extraBoxes).toBeGreaterThan(0);
  });

  it('keeps boxes integer, inside the image, distinct-category and non-overlapping', () => {
    const widths = new Set<number>();
    for (const t of truth) {
      widths.add(t.width);
      expect(t.width).toBeGreaterThanOrEqual(320);
      expect(t.width).toBeLessThanOrEqual(800);
      expect(t.objects.length).toBeGreaterThanOrEqual(2);
      expect(t.objects.length).toBeLessThanOrEqual(5);
      expect(new Set(t.objects.map((o) => o.category)).size).toBe(t.objects.length);
      for (const { category, bbox } of t.objects) {
        expect(category).toMatch(/^(red|green|blue|yellow) (circle|square|triangle|star)$/);
        const [x1, y1, x2, y2] = bbox;
        expect(bbox.every(Number.isInteger)).toBe(true);
        expect(0 <= x1 && x1 < x2 && x2 <= t.width).toBe(true);
        expect(0 <= y1 && y1 < y2 && y2 <= t.height).toBe(true);
      }
      for (let i = 0; i < t.objects.length; i++) {
        for (let j = i + 1; j < t.objects.length; j++) {
          const [p, q] = [t.objects[i].bbox, t.objects[j].bbox];
          expect(p[0] < q[2] && q[0] < p[2] && p[1] < q[3] && q[1] < p[3]).toBe(false);
        }
      }
    }
    expect(widths.size).toBeGreaterThan(5); // sizes vary when not fixed
  });

  it('answers each question consistently with the boxes', () => {
    const cx = (b: BBox) => (b[0] + b[2]) / 2;
    const cy = (b: BBox) => (b[1] + b[3]) / 2;
    const area = (b: BBox) => (b[2] - b[0]) * (b[3] - b[1]);
    const types = new Set<string>();
    for (const t of truth) {
      expect(t.program).toContain(`gd_detect(img, "`);
      const box = (category: string) => t.objects.find((o) => o.category === category)!.bbox;
      const rel = /^Is the (\w+ \w+) (left of|right of|above|below) the (\w+ \w+)\?$/.exec(t.question);
      const big = /^Which is larger, the (\w+ \w+) or the (\w+ \w+)\?$/.exec(t.question);
      const count = /^How many (\w+)s are there\?$/.exec(t.question);
      if (count) {
        expect(t.answer).toBe(String(t.objects.filter((o) => o.category.split(' ')[1] === count[1]).length));
        expect(t.question_type).toBe('count');
        types.add('count');
      } else if (rel) {
        const [, x, how, y] = rel;
        const [bx, by] = [box(x), box(y)];
        const truthy = { 'left of': cx(bx) < cx(by), 'right of': cx(bx) > cx(by), above: cy(bx) < cy(by), below: cy(bx) > cy(by) }[how];
        expect(t.answer).toBe(truthy ? 'yes' : 'no');
        types.add(how);
      } else if (big) {
        const [, x, y] = big;
        expect(t.answer).toBe(area(box(x)) > area(box(y)) ? x : y);
        expect(area(box(x))).not.toBe(area(box(y)));
        types.add('larger');
      } else {
        throw new Error(`unexpected question: ${t.question}`);
      }
    }
    expect(types.size).toBeGreaterThanOrEqual(4);
  });

  it('renders PNGs of the stated size whose boxes are truthful: shape colour inside, tight edges', async () => {
    // Fill fraction of the box a perfect shape covers, with slack for anti-aliased edges.
    const minFill = { square: 0.9, circle: 0.65, triangle: 0.4, star: 0.25 } as Record<string, number>;
    for (const t of truth) {
      const { data, info } = await sharp(path.join(a.outDir, t.image)).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([t.width, t.height]);
      const ch = info.channels;
      const px = (x: number, y: number) => [data[(y * info.width + x) * ch], data[(y * info.width + x) * ch + 1], data[(y * info.width + x) * ch + 2]];
      const near = (p: number[], rgb: readonly number[], tol = 12) => p.every((v, k) => Math.abs(v - rgb[k]) <= tol);
      // Background is light in every channel; each fill has a channel far below 200.
      const inked = (p: number[]) => Math.min(...p) < 200;

      for (const { category, bbox } of t.objects) {
        const [color, shape] = category.split(' ') as [Color, string];
        const rgb = COLOR_RGB[color];
        const [x1, y1, x2, y2] = bbox;
        expect(near(px(Math.floor((x1 + x2) / 2), Math.floor((y1 + y2) / 2)), rgb)).toBe(true);

        let hits = 0;
        for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) if (near(px(x, y), rgb)) hits++;
        expect(hits / ((x2 - x1) * (y2 - y1))).toBeGreaterThan(minFill[shape]);

        // Tight: ink reaches within 3 px of every edge, and nothing is inked just outside.
        const band = (xa: number, xb: number, ya: number, yb: number) => {
          let any = false;
          for (let y = Math.max(0, ya); y < Math.min(t.height, yb); y++) for (let x = Math.max(0, xa); x < Math.min(t.width, xb); x++) any ||= inked(px(x, y));
          return any;
        };
        expect(band(x1, x2, y1, y1 + 3)).toBe(true);
        expect(band(x1, x2, y2 - 3, y2)).toBe(true);
        expect(band(x1, x1 + 3, y1, y2)).toBe(true);
        expect(band(x2 - 3, x2, y1, y2)).toBe(true);
        expect(band(x1 - 3, x2 + 3, y1 - 3, y1)).toBe(false);
        expect(band(x1 - 3, x2 + 3, y2, y2 + 3)).toBe(false);
        expect(band(x1 - 3, x1, y1, y2)).toBe(false);
        expect(band(x2, x2 + 3, y1, y2)).toBe(false);
      }
    }
  });

  it('honours a fixed width and height', async () => {
    const f = await generate('fixed', 3, { width: 512, height: 384 });
    const rows = await readJsonl<GroundTruthRecord>(f.result.groundTruthFile);
    expect(rows.every((r) => r.width === 512 && r.height === 384)).toBe(true);
    expect(await sharp(path.join(f.outDir, rows[0].image)).metadata()).toMatchObject({ width: 512, height: 384 });
  });

  it('rejects bad options', async () => {
    await expect(generateSyntheticCorpus({ outDir: path.join(root, 'x'), count: -1, seed: 1 })).rejects.toThrow(/count/);
    await expect(generateSyntheticCorpus({ outDir: path.join(root, 'x'), count: 1, seed: 1.5 })).rejects.toThrow(/seed/);
    await expect(generateSyntheticCorpus({ outDir: path.join(root, 'x'), count: 1, seed: 1, width: 10 })).rejects.toThrow(/width/);
  });
});
