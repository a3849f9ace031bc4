import sharp from 'sharp';
import { ImageRefusedError } from './image-intake';
import { GDINO_RESIZE, IMAGENET_MEAN, IMAGENET_STD, padBatch, Preprocessed, preprocessImage, targetSize } from './preprocess';

const solid = (width: number, height: number, rgb: [number, number, number], format: 'png' | 'jpeg' = 'png') =>
  (format === 'png'
    ? sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png()
    : sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).jpeg()
  ).toBuffer();

const fromRaw = (width: number, height: number, channels: 3 | 4, px: number[]) => sharp(Buffer.from(px), { raw: { width, height, channels } }).png().toBuffer();

const norm = (v: number, c: number) => (v / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;

describe('targetSize (GroundingDINO get_size_with_aspect_ratio)', () => {
  it.each([
    // w, h, expected w, expected h — worked by hand from the reference code
    [640, 480, 1066, 800], // 640/480*800 = 1066.7 <= 1333; ow = int(800*640/480) = int(1066.67)
    [480, 640, 800, 1066],
    [800, 600, 1066, 800],
    [3000, 1000, 1332, 444], // size = round(1333*1000/3000) = round(444.33) = 444; ow = int(444*3)
    [1000, 1000, 800, 800],
    [1200, 800, 1200, 800], // short side already 800: unchanged
    [1333, 800, 1333, 800], // 1333/800*800 = 1333 is not > 1333
    [100, 50, 1332, 666], // 2/1*800 > 1333: size = round(666.5) = 666 (half to even), ow = int(666*100/50)
    [2000, 1000, 1332, 666],
    [4, 2, 1332, 666], // Math.round would give 667 and a width of 1334 > maxSize
  ])('%ix%i -> %ix%i', (w, h, ew, eh) => {
    expect(targetSize(w, h, GDINO_RESIZE)).toEqual({ width: ew, height: eh });
  });

  it('never exceeds maxSize on the long side for common aspect ratios', () => {
    for (const [w, h] of [
      [1920, 1080],
      [4032, 3024],
      [1080, 1920],
      [5000, 1200],
      [333, 1000],
    ] as const) {
      const t = targetSize(w, h, GDINO_RESIZE);
      expect(Math.max(t.width, t.height)).toBeLessThanOrEqual(1333);
    }
  });
});

describe('preprocessImage', () => {
  it('normalises a solid red image with ImageNet mean/std, CHW', async () => {
    const p = await preprocessImage(await solid(20, 10, [255, 0, 0]), { shortSide: 10, maxSize: 1333 });
    expect(p).toMatchObject({ width: 20, height: 10, origWidth: 20, origHeight: 10 });
    expect(p.data.length).toBe(3 * 20 * 10);
    const plane = 200;
    const expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225]; // 2.2489, -2.0357, -1.8044
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < plane; i++) expect(p.data[c * plane + i]).toBeCloseTo(expected[c]!, 5);
    }
  });

  it('keeps CHW order: channel planes, then rows, then columns', async () => {
    // 2x2: top-left red, top-right green, bottom-left blue, bottom-right white
    const png = await fromRaw(2, 2, 3, [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
    const p = await preprocessImage(png, { shortSide: 2, maxSize: 1333 });
    const at = (c: number, y: number, x: number) => p.data[c * 4 + y * 2 + x]!;
    expect(at(0, 0, 0)).toBeCloseTo(norm(255, 0), 5); // red: R high
    expect(at(1, 0, 0)).toBeCloseTo(norm(0, 1), 5);
    expect(at(1, 0, 1)).toBeCloseTo(norm(255, 1), 5); // green: G high
    expect(at(0, 0, 1)).toBeCloseTo(norm(0, 0), 5);
    expect(at(2, 1, 0)).toBeCloseTo(norm(255, 2), 5); // blue: B high
    expect(at(0, 1, 1)).toBeCloseTo(norm(255, 0), 5); // white
    expect(at(2, 1, 1)).toBeCloseTo(norm(255, 2), 5);
  });

  it('resizes to the GroundingDINO size and keeps a solid colour exact up to the edges', async () => {
    const p = await preprocessImage(await solid(640, 480, [128, 64, 32]), GDINO_RESIZE);
    expect(p).toMatchObject({ width: 1066, height: 800, origWidth: 640, origHeight: 480 });
    const plane = 1066 * 800;
    for (const c of [0, 1, 2]) {
      const v = norm([128, 64, 32][c]!, c);
      const slice = p.data.subarray(c * plane, (c + 1) * plane);
      expect(Math.min(...slice.subarray(0, 5000))).toBeCloseTo(v, 5);
      expect(slice[plane - 1]).toBeCloseTo(v, 5); // bottom-right corner: no border blending
    }
  });

  it('downscales a large image', async () => {
    const p = await preprocessImage(await solid(3000, 1000, [10, 20, 30], 'jpeg'), GDINO_RESIZE);
    expect(p).toMatchObject({ width: 1332, height: 444, origWidth: 3000, origHeight: 1000 });
  });

  it('drops alpha without compositing onto a background (PIL convert("RGB"))', async () => {
    const png = await fromRaw(1, 1, 4, [255, 0, 0, 128]);
    const p = await preprocessImage(png, { shortSide: 1, maxSize: 10 });
    expect(p.data[0]).toBeCloseTo(norm(255, 0), 5);
    expect(p.data[1]).toBeCloseTo(norm(0, 1), 5);
  });

  it('expands greyscale to three equal channels', async () => {
    const grey = await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 100, g: 100, b: 100 } } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const p = await preprocessImage(grey, { shortSide: 2, maxSize: 10 });
    for (const c of [0, 1, 2]) expect(p.data[c * 4]).toBeCloseTo(norm(100, c), 5);
  });

  it('does not apply EXIF orientation (the reference does not)', async () => {
    const jpg = await sharp(await solid(6, 2, [200, 0, 0]))
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const p = await preprocessImage(jpg, { shortSide: 2, maxSize: 100 });
    expect([p.origWidth, p.origHeight]).toEqual([6, 2]);
  });

  it('refuses a truncated PNG as corrupt or truncated', async () => {
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .png()
      .toBuffer();
    const cut = png.subarray(0, Math.floor(png.length / 2));
    const err = await preprocessImage(cut, GDINO_RESIZE, 40_000_000, 'cut.png').catch((e) => e);
    expect(err).toBeInstanceOf(ImageRefusedError);
    expect(err.retriable).toBe(false);
    expect(err.message).toMatch(/cut\.png.*corrupt or truncated/);
  });

  it('refuses images over maxPixels and bytes that are not an image', async () => {
    await expect(preprocessImage(await solid(20, 20, [1, 2, 3]), GDINO_RESIZE, 100)).rejects.toThrow(/pixel limit/);
    await expect(preprocessImage(Buffer.from('not an image'), GDINO_RESIZE)).rejects.toThrow(ImageRefusedError);
    await expect(preprocessImage(Buffer.alloc(0), GDINO_RESIZE)).rejects.toThrow(/empty/);
  });
});

describe('padBatch', () => {
  const item = (width: number, height: number, fill: number): Preprocessed => ({
    data: new Float32Array(3 * width * height).map((_, i) => fill + i),
    width,
    height,
    origWidth: width,
    origHeight: height,
  });

  it('zero-pads bottom/right to the largest size and masks real pixels with 1', () => {
    const a = item(3, 1, 100); // 3 wide, 1 high
    const b = item(1, 2, 200); // 1 wide, 2 high
    const out = padBatch([a, b]);
    expect(out).toMatchObject({ batch: 2, height: 2, width: 3 });
    expect(out.data.length).toBe(2 * 3 * 2 * 3);
    expect(out.pixelMask.length).toBe(2 * 2 * 3);
    const at = (bi: number, c: number, y: number, x: number) => out.data[((bi * 3 + c) * 2 + y) * 3 + x];
    // a: channel c row 0 holds a.data[c*3 .. c*3+2]; row 1 is padding
    for (let c = 0; c < 3; c++) {
      for (let x = 0; x < 3; x++) expect(at(0, c, 0, x)).toBe(100 + c * 3 + x);
      for (let x = 0; x < 3; x++) expect(at(0, c, 1, x)).toBe(0);
    }
    // b: column 0 holds b.data[c*2 + y]; columns 1..2 are padding
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 2; y++) {
        expect(at(1, c, y, 0)).toBe(200 + c * 2 + y);
        expect(at(1, c, y, 1)).toBe(0);
        expect(at(1, c, y, 2)).toBe(0);
      }
    }
    expect(Array.from(out.pixelMask)).toEqual([1n, 1n, 1n, 0n, 0n, 0n, 1n, 0n, 0n, 1n, 0n, 0n]);
  });

  it('leaves same-size batches unpadded', () => {
    const out = padBatch([item(2, 2, 1), item(2, 2, 5)]);
    expect(out.pixelMask.every((v) => v === 1n)).toBe(true);
    expect(Array.from(out.data.subarray(0, 12))).toEqual(Array.from(item(2, 2, 1).data));
  });

  it('refuses an empty batch', () => {
    expect(() => padBatch([])).toThrow(RangeError);
  });
});
