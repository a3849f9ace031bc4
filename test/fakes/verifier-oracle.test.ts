import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { labelQuality } from '../../evaluation/label-quality';
import { generateSyntheticCorpus, type GroundTruthRecord } from '../../evaluation/synthetic-corpus';
import type { BBox } from '../../evaluation/synthetic-scene';
import { simulateProposals } from '../../evaluation/synthetic-proposals';
import { sha256Hex } from '../../core/ids';
import type { ContentPart } from '../../models/llm/provider';
import { boxLines, boxText, fillPrompt, loadVerifierPrompts, verifierPromptsConfig } from '../../models/verifier/prompts';
import { Verifier, VerifierLlm } from '../../models/verifier/verifier';
import { annotate, cropForVerification, toPng } from '../../models/verifier/verifier-images';
import { iou, normalizeCategory, OracleRequest, VerifierOracle } from './verifier-oracle';
import { pixelFingerprint } from './verifier-oracle-truth';

const prompts = loadVerifierPrompts(verifierPromptsConfig.parse({}));

interface Shape {
  category: string;
  bbox: BBox;
}
interface Scene {
  id: string;
  width: number;
  height: number;
  objects: Shape[];
  png: Buffer;
}

const FILL: Record<string, string> = { red: 'rgb(220,38,38)', blue: 'rgb(37,99,235)', green: 'rgb(22,163,74)', yellow: 'rgb(234,179,8)' };

async function render(id: string, width: number, height: number, objects: Shape[]): Promise<Scene> {
  const shapes = objects.map(
    ({ category, bbox: [x1, y1, x2, y2] }) => `<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" fill="${FILL[category.split(' ')[0]!]}"/>`,
  );
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="${width}" height="${height}" fill="rgb(240,238,235)"/>${shapes.join('')}</svg>`;
  return { id, width, height, objects, png: await sharp(Buffer.from(svg)).png().toBuffer() };
}

type ListBox = { x1: number; y1: number; x2: number; y2: number; label: string };
const b = (label: string, [x1, y1, x2, y2]: number[]): ListBox => ({ label, x1: x1!, y1: y1!, x2: x2!, y2: y2! });

/** A list request exactly as the Verifier builds it: prompt text, clean PNG, annotated PNG. */
async function listRequest(stage: 'COARSE' | 'FINAL', s: { png: Buffer; width: number; height: number }, boxes: ListBox[]): Promise<OracleRequest> {
  const text = fillPrompt(prompts[stage], { width: s.width, height: s.height, boxes: boxLines(boxes) });
  return { text, images: [(await toPng(s.png)).png, (await annotate(s.png, boxes)).png] };
}

async function cropRequest(s: { png: Buffer; width: number; height: number }, box: ListBox): Promise<OracleRequest> {
  const text = fillPrompt(prompts.CROP, { width: s.width, height: s.height, box: boxText(box), label: box.label });
  return { text, images: [(await cropForVerification(s.png, box)).png] };
}

const ask = async (o: VerifierOracle, req: OracleRequest) => JSON.parse(await o.answer(req));

// Two images of one size (A, B) and one of another (C). B has a red circle exactly where
// A has its blue square, so a crop request alone cannot tell A from B.
let A: Scene;
let B: Scene;
let C: Scene;
const fromScenes = (opts = {}) =>
  VerifierOracle.fromImages(
    [A, B, C].map((s) => ({ id: s.id, objects: s.objects, image: s.png })),
    opts,
  );

beforeAll(async () => {
  A = await render('a', 200, 150, [
    { category: 'red circle', bbox: [20, 20, 80, 80] },
    { category: 'blue square', bbox: [120, 40, 180, 100] },
  ]);
  B = await render('b', 200, 150, [
    { category: 'red circle', bbox: [120, 40, 180, 100] },
    { category: 'green triangle', bbox: [20, 90, 80, 140] },
  ]);
  C = await render('c', 160, 120, [{ category: 'yellow star', bbox: [10, 10, 60, 60] }]);
});

describe('helpers', () => {
  it('normalizeCategory and iou', () => {
    expect(normalizeCategory(' Red-Circle ')).toBe('red circle');
    expect(normalizeCategory('red__circle')).toBe('red circle');
    expect(normalizeCategory('RED   circle')).toBe('red circle');
    expect(iou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(1 / 3);
    expect(iou([0, 0, 10, 10], [20, 20, 30, 30])).toBe(0);
  });

  it('pixelFingerprint ignores the encoding and sees any pixel change', async () => {
    const fp = await pixelFingerprint(A.png);
    expect(fp).toMatchObject({ width: 200, height: 150 });
    expect((await pixelFingerprint((await toPng(A.png)).png)).fingerprint).toBe(fp.fingerprint);
    expect((await pixelFingerprint(await sharp(A.png).png({ compressionLevel: 0 }).toBuffer())).fingerprint).toBe(fp.fingerprint);
    const raw = await sharp(A.png).raw().toBuffer({ resolveWithObject: true });
    raw.data[0] ^= 1;
    const changed = await sharp(raw.data, { raw: { width: 200, height: 150, channels: raw.info.channels } })
      .png()
      .toBuffer();
    expect((await pixelFingerprint(changed)).fingerprint).not.toBe(fp.fingerprint);
  });

  it('stageOf tells the three shipped prompts apart', () => {
    expect(VerifierOracle.stageOf(prompts.COARSE.text)).toBe('coarse');
    expect(VerifierOracle.stageOf(prompts.CROP.text)).toBe('crop');
    expect(VerifierOracle.stageOf(prompts.FINAL.text)).toBe('final');
  });
});

describe('coarse stage', () => {
  it('keeps boxes with IoU >= 0.5 on a same-category object and says why it drops the others', async () => {
    const o = await fromScenes();
    const boxes = [
      b('red circle', [21, 19, 81, 79]), // tight
      b('Red-Circle', [20, 20, 80, 80]), // label spelled as the detector prompt does
      b('red circle', [0, 0, 100, 100]), // IoU 0.36, holds the whole circle
      b('red circle', [20, 20, 45, 80]), // IoU 0.42, cuts it
      b('red circle', [120, 40, 180, 100]), // on the blue square
      b('blue square', [10, 100, 50, 140]), // background
      b('blue square', [122, 42, 181, 99]),
    ];
    expect(await ask(o, await listRequest('COARSE', A, boxes))).toEqual({
      keep_indices: [1, 2, 7],
      drop_indices: [3, 4, 5, 6],
      notes: [
        '3: bad box: too loose around the red circle',
        '4: bad box: chops the red circle',
        '5: wrong label: this is a blue square',
        '6: no blue square here: mostly background',
      ],
    });
    expect(o.stats).toEqual({ requests: { coarse: 1, crop: 0, final: 0 }, unknownImages: 0, flippedDecisions: 0 });
  });

  it('judges each image by its own ground truth (identified by pixels)', async () => {
    const o = await fromScenes();
    const boxes = [b('red circle', [120, 40, 180, 100]), b('red circle', [20, 20, 80, 80])];
    expect((await ask(o, await listRequest('COARSE', A, boxes))).keep_indices).toEqual([2]);
    expect((await ask(o, await listRequest('COARSE', B, boxes))).keep_indices).toEqual([1]);
  });
});

describe('final stage', () => {
  it('keeps the best box per object, drops duplicates and wrong labels', async () => {
    const o = await fromScenes();
    const boxes = [
      b('red circle', [20, 20, 80, 80]),
      b('red circle', [22, 22, 80, 80]), // nested in 1, lower IoU
      b('blue square', [120, 40, 180, 100]),
      b('blue square', [120, 40, 180, 100]), // ties with 3: the earlier number stays
      b('green triangle', [120, 40, 180, 100]), // on the blue square
      b('red circle', [23, 20, 83, 80]),
      b('yellow star', [100, 110, 140, 145]), // nothing there
    ];
    expect(await ask(o, await listRequest('FINAL', A, boxes))).toEqual({
      keep_indices: [1, 3],
      drop_indices: [2, 4, 5, 6, 7],
      notes: [
        '2: duplicate of box 1',
        '4: duplicate of box 3',
        '5: wrong label: this is a blue square',
        '6: duplicate of box 1',
        '7: wrong label: no yellow star here',
      ],
    });
    expect(o.stats.requests).toEqual({ coarse: 0, crop: 0, final: 1 });
  });

  it('keeps a later box when it fits better than an earlier one', async () => {
    const o = await fromScenes();
    const boxes = [b('red circle', [24, 24, 80, 80]), b('red circle', [20, 20, 80, 80])];
    expect(await ask(o, await listRequest('FINAL', A, boxes))).toEqual({ keep_indices: [2], drop_indices: [1], notes: ['1: duplicate of box 2'] });
  });
});

describe('crop stage', () => {
  it('keeps a box only at IoU >= 0.7, saying loose, tight or wrong class otherwise', async () => {
    const o = await fromScenes();
    const crop = async (box: ListBox) => ask(o, await cropRequest(A, box));
    expect(await crop(b('red circle', [20, 20, 80, 80]))).toEqual({ keep: true, reason: 'clearly a red circle' });
    expect(await crop(b('red_circle', [22, 21, 81, 80]))).toEqual({ keep: true, reason: 'clearly a red_circle' }); // echoes the label as asked
    expect(await crop(b('red circle', [10, 10, 90, 90]))).toEqual({ keep: false, reason: 'too loose: the box has a lot of background around the red circle' }); // 0.56
    expect(await crop(b('red circle', [20, 20, 80, 60]))).toEqual({ keep: false, reason: 'too tight: the red circle is truncated by the box' }); // 0.67
    expect(await crop(b('green triangle', [20, 20, 80, 80]))).toEqual({ keep: false, reason: 'wrong class: the dominant object is a red circle' });
    expect(await crop(b('yellow star', [20, 20, 80, 80]))).toMatchObject({ keep: false }); // no yellow star at 200x150
    expect(o.stats.requests.crop).toBe(6);
  });

  it('finds the image by the size and box the prompt states', async () => {
    const o = await fromScenes();
    expect(await ask(o, await cropRequest(C, b('yellow star', [10, 10, 60, 60])))).toEqual({ keep: true, reason: 'clearly a yellow star' });
    // The same box and label on a 200x150 image: no yellow star among those.
    expect((await ask(o, await cropRequest(A, b('yellow star', [10, 10, 60, 60])))).keep).toBe(false);
    expect(o.stats.unknownImages).toBe(0);
  });

  it('prefers the image a list request showed the box on', async () => {
    const box = b('red circle', [120, 40, 180, 100]);
    // Without history the size search finds B's red circle there.
    const fresh = await fromScenes();
    expect((await ask(fresh, await cropRequest(A, box))).keep).toBe(true);
    // After the coarse request on A (where that spot is the blue square), the crop is A's.
    const o = await fromScenes();
    await ask(o, await listRequest('COARSE', A, [box, b('red circle', [20, 20, 80, 80])]));
    expect(await ask(o, await cropRequest(A, box))).toEqual({ keep: false, reason: 'wrong class: the dominant object is a blue square' });
  });

  it('reads labels with quotes the way the list prompt writes them', async () => {
    const o = await fromScenes();
    expect((await ask(o, await cropRequest(A, b("red circle'", [20, 20, 80, 80])))).keep).toBe(true);
  });
});

describe('unknown images and bad requests', () => {
  it('drops everything on an unknown image and counts it', async () => {
    const o = await fromScenes();
    const stranger = await render('x', 200, 150, [
      { category: 'red circle', bbox: [20, 20, 80, 80] },
      { category: 'blue square', bbox: [100, 10, 110, 20] },
    ]);
    const boxes = [b('red circle', [20, 20, 80, 80])];
    expect(await ask(o, await listRequest('COARSE', stranger, boxes))).toEqual({
      keep_indices: [],
      drop_indices: [1],
      notes: ['1: no red circle here: mostly background'],
    });
    expect((await ask(o, await listRequest('FINAL', stranger, boxes))).keep_indices).toEqual([]);
    const odd = await render('y', 123, 45, []);
    expect((await ask(o, await cropRequest(odd, b('red circle', [1, 1, 20, 20])))).keep).toBe(false);
    expect(o.stats).toEqual({ requests: { coarse: 1, crop: 1, final: 1 }, unknownImages: 3, flippedDecisions: 0 });
  });

  it('names what is missing from a malformed request', async () => {
    const o = await fromScenes();
    const coarse = await listRequest('COARSE', A, [b('red circle', [20, 20, 80, 80])]);
    await expect(o.answer({ text: coarse.text, images: [] })).rejects.toThrow(/coarse request: no image/);
    await expect(o.answer({ text: 'Decide which boxes to KEEP.', images: coarse.images })).rejects.toThrow(/no box lines of the form/);
    await expect(o.answer({ text: coarse.text, images: [Buffer.from('junk')] })).rejects.toThrow(/first image cannot be decoded/);
    await expect(o.answer({ text: 'the dominant object', images: [] })).rejects.toThrow(/crop request: no box_px/);
  });

  it('refuses bad options and bad ground truth', async () => {
    expect(() => new VerifierOracle([], { errorRate: 1.5 })).toThrow(/errorRate must be a number in 0..1, got 1.5/);
    const one = { id: 'a', width: 1, height: 1, objects: [] };
    expect(() => new VerifierOracle([one, one])).toThrow(/image id 'a' appears twice/);
    await expect(VerifierOracle.fromImages([{ id: 'a', objects: [], image: A.png, width: 640 }])).rejects.toThrow(
      /image 'a' is 200x150 but its record says 640x/,
    );
    await expect(VerifierOracle.fromImages([{ id: 'a', objects: [{ category: 'x', bbox: [1, 2] as unknown as BBox }], image: A.png }])).rejects.toThrow(
      /image 'a': objects\[0\]: bbox must be \[x1, y1, x2, y2\]/,
    );
  });
});

describe('errorRate', () => {
  /** 150 keepable and 150 droppable boxes: the exact oracle's answer is known. */
  const manyBoxes = () =>
    Array.from({ length: 300 }, (_, i) =>
      i % 2 === 0 ? b('red circle', [20 + (i % 5), 20 + (i % 7), 80 + (i % 3), 80]) : b('blue square', [(i * 7) % 100, 105, ((i * 7) % 100) + 20, 145]),
    );

  it('flips about that share of decisions, deterministically per request and seed', async () => {
    const req = await listRequest('COARSE', A, manyBoxes());
    const exact = await ask(await fromScenes(), req);
    expect(exact.keep_indices).toHaveLength(150);
    const noisy = await fromScenes({ errorRate: 0.2, seed: 7 });
    const a = await ask(noisy, req);
    const keptExact = new Set<number>(exact.keep_indices);
    const flipped = Array.from({ length: 300 }, (_, i) => i + 1).filter((i) => keptExact.has(i) !== a.keep_indices.includes(i));
    expect(flipped.length / 300).toBeGreaterThan(0.12);
    expect(flipped.length / 300).toBeLessThan(0.28);
    expect(noisy.stats.flippedDecisions).toBe(flipped.length);
    // Flips go both ways and dropped boxes still get a note each.
    expect(flipped.some((i) => keptExact.has(i))).toBe(true);
    expect(flipped.some((i) => !keptExact.has(i))).toBe(true);
    expect(a.notes).toHaveLength(a.drop_indices.length);
    // Same request, same seed: same answer, from this oracle or a new one.
    expect(await ask(noisy, req)).toEqual(a);
    expect(await ask(await fromScenes({ errorRate: 0.2, seed: 7 }), req)).toEqual(a);
    expect(await ask(await fromScenes({ errorRate: 0.2, seed: 8 }), req)).not.toEqual(a);
  });

  it('flips crop verdicts too', async () => {
    const noisy = await fromScenes({ errorRate: 0.3, seed: 1 });
    let dropped = 0;
    const n = 60;
    for (let i = 0; i < n; i++) {
      const a = await ask(noisy, await cropRequest(A, b('red circle', [20 + (i % 4), 20 + (Math.floor(i / 4) % 4), 80 - (i % 3), 80])));
      if (!a.keep) dropped++;
    }
    // Every box is a keep for the exact oracle.
    expect(dropped).toBe(noisy.stats.flippedDecisions);
    expect(dropped / n).toBeGreaterThan(0.12);
    expect(dropped / n).toBeLessThan(0.5);
  });
});

describe('on a generated synthetic corpus', () => {
  let dir: string;
  let gtFile: string;
  let truth: GroundTruthRecord[];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'verifier-oracle-'));
    const r = await generateSyntheticCorpus({ outDir: dir, count: 6, seed: 11, width: 240, height: 180 });
    gtFile = r.groundTruthFile;
    truth = (await readFile(gtFile, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as GroundTruthRecord);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads ground-truth.jsonl and answers every stage from it', async () => {
    const o = await VerifierOracle.fromGroundTruth(gtFile);
    for (const t of truth) {
      const s = { png: await readFile(path.join(dir, t.image)), width: t.width, height: t.height };
      const gt = t.objects.map((ob) => b(ob.category.replace(' ', '-'), ob.bbox));
      const [x1, y1, x2, y2] = t.objects[0]!.bbox;
      const shifted = b(t.objects[0]!.category, [x1 + (x2 - x1) * 0.6, y1, x2 + (x2 - x1) * 0.6, y2]); // IoU 0.25
      const coarse = await ask(o, await listRequest('COARSE', s, [...gt, shifted]));
      expect(coarse.keep_indices).toEqual(gt.map((_, i) => i + 1));
      expect(coarse.drop_indices).toEqual([gt.length + 1]);
      for (const box of gt) expect((await ask(o, await cropRequest(s, box))).keep).toBe(true);
      expect((await ask(o, await cropRequest(s, shifted))).keep).toBe(false);
      expect((await ask(o, await listRequest('FINAL', s, [...gt, gt[0]!]))).drop_indices).toEqual([gt.length + 1]);
    }
    expect(o.stats.unknownImages).toBe(0);
  });

  it('names the line of a bad record and an image it cannot read', async () => {
    const bad = path.join(dir, 'bad.jsonl');
    await writeFile(bad, `${JSON.stringify(truth[0])}\n{"id": "x"\n`);
    await expect(VerifierOracle.fromGroundTruth(bad)).rejects.toThrow(/bad\.jsonl:2: not valid JSON/);
    await writeFile(bad, `${JSON.stringify({ ...truth[0], width: '240' })}\n`);
    await expect(VerifierOracle.fromGroundTruth(bad)).rejects.toThrow(/bad\.jsonl:1: width and height must be integers/);
    await writeFile(bad, `${JSON.stringify({ ...truth[0], image: 'images/missing.png' })}\n`);
    await expect(VerifierOracle.fromGroundTruth(bad)).rejects.toThrow(/cannot read image 'syn-000001' at .*missing\.png/);
  });

  it('drives the real Verifier to the ground truth from noisy proposals', async () => {
    const o = await VerifierOracle.fromGroundTruth(gtFile);
    // A provider that hands each request to the oracle the way the fake servers do.
    const llm: VerifierLlm = {
      kind: 'oracle',
      model: 'oracle',
      async complete(req) {
        const text = req.parts
          .filter((p): p is Extract<ContentPart, { type: 'text' }> => p.type === 'text')
          .map((p) => p.text)
          .join('\n');
        const images = req.parts.filter((p): p is Extract<ContentPart, { type: 'image' }> => p.type === 'image').map((p) => p.data);
        return { text: await o.answer({ text, images }), usage: { inputTokens: 1, outputTokens: 1 }, model: 'oracle' };
      },
    };
    const verifier = new Verifier(llm, prompts, null, { crop: { padFraction: 0.1, longSide: 640 } });
    const items = [];
    let proposed = 0;
    for (const t of truth) {
      const phrases = t.objects.slice(0, 2).map((ob) => ob.category);
      const boxes = simulateProposals(t, phrases, 3);
      proposed += boxes.length;
      const bytes = await readFile(path.join(dir, t.image));
      const result = await verifier.verify({ sha256: sha256Hex(bytes), width: t.width, height: t.height, load: async () => bytes }, boxes);
      items.push({ boxes: result.accepted.map((i) => boxes[i - 1]!), phrases, truth: t });
    }
    const q = labelQuality(items);
    expect(proposed).toBeGreaterThan(q.objects); // there was noise to remove
    expect(q.precision).toBe(1);
    expect(q.recall).toBe(1);
    expect(o.stats.unknownImages).toBe(0);
    expect(o.stats.requests.coarse).toBe(truth.length);
  });
});
