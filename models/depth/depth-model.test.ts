import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { ConfigError, ValidationError } from '../../core/errors';
import { writeTestDetector } from '../detector/test-model';
import { IMAGENET_MEAN, IMAGENET_STD } from '../images/preprocess';
import { DepthMap, DepthModel, DepthModelOptions, medianInBox } from './depth-model';
import { TEST_DEPTH_OFFSET, writeTestDepthModel } from './test-model';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'depth-'));

/** The stand-in's documented output for a uniform grey level v in [0, 1]: 3 + mean_c((v - mean_c) / std_c). */
function standIn(v: number): number {
  return TEST_DEPTH_OFFSET + [0, 1, 2].reduce((s, c) => s + (v - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!, 0) / 3;
}

/** A W x H PNG whose left half is black and right half white. */
async function halves(W = 64, H = 48): Promise<Buffer> {
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = W / 2; x < W; x++) px.fill(255, (y * W + x) * 3, (y * W + x) * 3 + 3);
  return sharp(px, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('DepthModel on the stand-in', () => {
  const models: DepthModel[] = [];
  const load = async (opts: DepthModelOptions) => {
    const m = await DepthModel.load(opts);
    models.push(m);
    return m;
  };
  afterAll(async () => {
    for (const m of models) await m.close();
  });

  it('writes the stand-in idempotently and reports its sha256', () => {
    const a = writeTestDepthModel(dir);
    const mtime = fs.statSync(a.path).mtimeMs;
    const b = writeTestDepthModel(dir);
    expect(b).toEqual(a);
    expect(fs.statSync(b.path).mtimeMs).toBe(mtime);
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('loads, hashes the file and returns a map of the input size with the original size', async () => {
    const m = writeTestDepthModel(dir);
    const model = await load({ modelPath: m.path, inputSize: 28, output: 'depth' });
    expect(model.modelSha256).toBe(m.sha256);
    const map = await model.depthMap(await halves());
    expect(map).toMatchObject({ width: 28, height: 28, imageWidth: 64, imageHeight: 48 });
    expect(map.values).toHaveLength(28 * 28);
  });

  it("output 'depth' gives the model's values: medians over each half", async () => {
    const model = await load({ modelPath: writeTestDepthModel(dir).path, inputSize: 28, output: 'depth' });
    const img = await halves();
    const map = await model.depthMap(img);
    expect(medianInBox(map, [0, 0, 32, 48])).toBeCloseTo(standIn(0), 4);
    expect(medianInBox(map, [32, 0, 64, 48])).toBeCloseTo(standIn(1), 4);
    expect(await model.depth(img, [40, 10, 60, 40])).toBeCloseTo(standIn(1), 4);
  });

  it("output 'disparity' (the default) converts to depth as 1/d: the brighter half is nearer", async () => {
    const model = await load({ modelPath: writeTestDepthModel(dir).path, inputSize: 28 });
    expect(model.config.output).toBe('disparity');
    const map = await model.depthMap(await halves());
    const left = medianInBox(map, [0, 0, 32, 48]);
    const right = medianInBox(map, [32, 0, 64, 48]);
    expect(left).toBeCloseTo(1 / standIn(0), 4);
    expect(right).toBeCloseTo(1 / standIn(1), 4);
    expect(right).toBeLessThan(left);
  });

  it('accepts an output with a channel axis [N,1,H,W]', async () => {
    const model = await load({ modelPath: writeTestDepthModel(dir, { keepChannel: true }).path, inputSize: 14, output: 'depth' });
    const map = await model.depthMap(await halves());
    expect(map).toMatchObject({ width: 14, height: 14 });
    expect(medianInBox(map, [32, 0, 64, 48])).toBeCloseTo(standIn(1), 4);
  });

  it('gives correct results to concurrent callers (runs are queued, not mixed up)', async () => {
    const model = await load({ modelPath: writeTestDepthModel(dir).path, inputSize: 28, output: 'depth' });
    const black = await sharp({ create: { width: 20, height: 10, channels: 3, background: '#000000' } })
      .png()
      .toBuffer();
    const white = await sharp({ create: { width: 10, height: 20, channels: 4, background: '#ffffffff' } })
      .png()
      .toBuffer();
    const [b, w] = await Promise.all([model.depth(black, [0, 0, 20, 10]), model.depth(white, [0, 0, 10, 20])]);
    expect(b).toBeCloseTo(standIn(0), 4);
    expect(w).toBeCloseTo(standIn(1), 4);
  });

  it('refuses bytes that are not an image with a ValidationError', async () => {
    const model = await load({ modelPath: writeTestDepthModel(dir).path, inputSize: 14 });
    for (const bytes of [Buffer.from('this is not an image'), Buffer.alloc(0)]) {
      const err = await caught(model.depthMap(bytes));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.message).toMatch(/^depth: image cannot be decoded: /);
    }
  });
});

describe('DepthModel.load refusals', () => {
  it('names the path of a missing model file', async () => {
    const missing = path.join(dir, 'no-such-model.onnx');
    const err = await caught(DepthModel.load({ modelPath: missing }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(missing);
  });

  it('refuses a model with other input/output names, listing what it has and what is expected', async () => {
    const err = await caught(DepthModel.load({ modelPath: writeTestDepthModel(dir, { inputName: 'image', outputName: 'depth' }).path }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/has inputs \[image\] and outputs \[depth\]/);
    expect(err.message).toContain("'pixel_values'");
    expect(err.message).toContain("'predicted_depth'");
  });

  it('refuses the GroundingDINO stand-in (pixel_values plus text inputs)', async () => {
    const gd = writeTestDetector(path.join(dir, 'gd'));
    const err = await caught(DepthModel.load({ modelPath: gd.huggingface }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/has inputs \[pixel_values, input_ids/);
    expect(err.message).toContain("expected the single input 'pixel_values'");
  });

  it('refuses a fixed-size export whose size differs from inputSize', async () => {
    const fixed = writeTestDepthModel(dir, { fixedSize: 28 }).path;
    const err = await caught(DepthModel.load({ modelPath: fixed, inputSize: 518 }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/set inputSize/);
    const ok = await DepthModel.load({ modelPath: fixed, inputSize: 28 });
    await ok.close();
  });

  it('refuses bad options: a size not a multiple of 14, unknown keys', async () => {
    const modelPath = writeTestDepthModel(dir).path;
    await expect(DepthModel.load({ modelPath, inputSize: 512 })).rejects.toThrow(/inputSize/);
    await expect(DepthModel.load({ modelPath, inputSize: 512 })).rejects.toBeInstanceOf(ConfigError);
    await expect(DepthModel.load({ modelPath, outputs: 'depth' } as DepthModelOptions)).rejects.toThrow(ConfigError);
  });
});

describe('medianInBox', () => {
  // A 4x4 map of 0..15 (row-major) over an image of the given size.
  const grid = (imageWidth: number, imageHeight: number): DepthMap => ({
    values: Float32Array.from({ length: 16 }, (_, i) => i),
    width: 4,
    height: 4,
    imageWidth,
    imageHeight,
  });

  it('takes the middle value of an odd count', () => {
    expect(medianInBox(grid(4, 4), [0, 0, 3, 1])).toBe(1); // 0, 1, 2
    expect(medianInBox(grid(4, 4), [1, 1, 4, 4])).toBe(10); // 5, 6, 7, 9, 10, 11, 13, 14, 15
  });

  it('averages the two middle values of an even count', () => {
    expect(medianInBox(grid(4, 4), [0, 0, 2, 2])).toBe(2.5); // 0, 1, 4, 5
  });

  it('scales original pixels onto the map grid (cells whose centre lies in the box)', () => {
    expect(medianInBox(grid(40, 80), [0, 0, 20, 40])).toBe(2.5); // cells x 0..1, y 0..1
    // [0, 15) x [0, 20) -> map [0, 1.5) x [0, 1): centres 0.5 and 1.5 -> only column 0 in x
    expect(medianInBox(grid(40, 80), [0, 0, 15, 20])).toBe(0);
  });

  it('takes the cell under the box centre when the box is smaller than a cell', () => {
    expect(medianInBox(grid(40, 40), [12, 22, 14, 24])).toBe(9); // cell (1, 2)
    // thin in y only (map rows 2.6..2.7, between centres): all four columns of row 2
    expect(medianInBox(grid(40, 40), [0, 26, 40, 27])).toBe(9.5);
  });

  it('clips a box partly outside the image', () => {
    expect(medianInBox(grid(40, 40), [30, -5, 100, 20])).toBe(5); // [30, 40) x [0, 20): 3, 7
    expect(medianInBox(grid(40, 40), [-100, -100, 1000, 1000])).toBe(7.5);
  });

  it('refuses a box entirely outside the image, naming the bbox and the image size', () => {
    for (const bbox of [
      [50, 50, 60, 60],
      [-20, 0, 0, 10],
      [0, 40, 10, 50],
    ]) {
      const err = thrown(() => medianInBox(grid(40, 40), bbox));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.message).toContain(JSON.stringify(bbox));
      expect(err.message).toContain('40x40');
      expect(err.message).toMatch(/outside the image/);
    }
  });

  it('refuses a degenerate or malformed box', () => {
    for (const bbox of [
      [10, 10, 10, 20],
      [20, 10, 10, 20],
      [0, 30, 10, 5],
    ]) {
      const err = thrown(() => medianInBox(grid(40, 30), bbox));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.message).toContain(`bbox ${JSON.stringify(bbox)} on the 40x30 image`);
      expect(err.message).toMatch(/empty/);
    }
    expect(() => medianInBox(grid(40, 30), [0, 0, 10])).toThrow(ValidationError);
    expect(() => medianInBox(grid(40, 30), [0, 0, NaN, 10])).toThrow(/four finite numbers/);
  });
});
