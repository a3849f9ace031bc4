import sharp from 'sharp';
import { ValidationError } from '../../core/errors';
import { annotate, annotationLayout, cropForVerification, cropRegion, fitLongSide, Region, toPng } from './verifier-images';

const W = 320;
const H = 240;
const BG: RGB = [230, 230, 230];
const RED: RGB = [220, 38, 38];
const GREEN: RGB = [0, 255, 0];
type RGB = [number, number, number];

/** A light background with a red square over columns 100..159 and rows 80..139. */
async function scene(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect x="100" y="80" width="60" height="60" fill="rgb(${RED})"/></svg>`;
  return sharp({ create: { width: W, height: H, channels: 3, background: { r: BG[0], g: BG[1], b: BG[2] } } })
    .composite([{ input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toBuffer();
}

interface Raster {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
  at(x: number, y: number): RGB;
}

async function raster(png: Buffer): Promise<Raster> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    data,
    width: info.width,
    height: info.height,
    channels: info.channels,
    at(x, y) {
      const i = (y * info.width + x) * info.channels;
      return [data[i]!, data[i + 1]!, data[i + 2]!];
    },
  };
}

const near = (a: RGB, b: RGB, tol = 8) => a.every((v, i) => Math.abs(v - b[i]!) <= tol);

/** Share of pixels in a region that satisfy `pred`. */
function share(r: Raster, region: Region, pred: (px: RGB) => boolean): number {
  let n = 0;
  for (let y = region.top; y < region.top + region.height; y++) for (let x = region.left; x < region.left + region.width; x++) if (pred(r.at(x, y))) n++;
  return n / (region.width * region.height);
}

const isGreen = (p: RGB) => near(p, GREEN, 0);
const isDark = (p: RGB) => p[0] < 60 && p[1] < 60 && p[2] < 60;
const isLight = (p: RGB) => p[0] > 200 && p[1] > 200 && p[2] > 200;

describe('annotate', () => {
  let img: Buffer;
  beforeAll(async () => {
    img = await scene();
  });

  it('outlines the box in green, 3 px inside its edge, and leaves everything else alone', async () => {
    const out = await annotate(img, [{ x1: 100, y1: 80, x2: 160, y2: 140, label: 'red square' }]);
    expect([out.width, out.height]).toEqual([W, H]);
    expect((await sharp(out.png).metadata()).format).toBe('png');
    const r = await raster(out.png);
    for (let d = 0; d < 3; d++) {
      expect(r.at(100 + d, 110)).toEqual(GREEN); // left band
      expect(r.at(159 - d, 110)).toEqual(GREEN); // right band
      expect(r.at(130, 139 - d)).toEqual(GREEN); // bottom band
      expect(r.at(130, 80 + d)).toEqual(GREEN); // top band (the label header sits above it)
    }
    expect(r.at(103, 110)).toEqual(RED); // just inside the outline: the object
    expect(r.at(156, 110)).toEqual(RED);
    expect(r.at(99, 110)).toEqual(BG); // just outside: untouched
    expect(r.at(160, 110)).toEqual(BG);
    expect(r.at(130, 140)).toEqual(BG);
    expect(r.at(10, 230)).toEqual(BG);
  });

  it('draws a green number badge and a dark label tag above the top-left corner', async () => {
    const boxes = [{ x1: 100, y1: 80, x2: 160, y2: 140, label: 'red square' }];
    const [l] = annotationLayout(W, H, boxes);
    expect(l!.badge.left).toBe(100);
    expect(l!.badge.top + l!.badge.height).toBe(80); // flush with the box's top edge
    expect(l!.tag!.left).toBe(l!.badge.left + l!.badge.width);
    expect(l!.tag!.width).toBeGreaterThan(l!.badge.width * 3); // "red square" is 10 characters
    const r = await raster((await annotate(img, boxes)).png);
    // The badge is filled green with a dark digit; the tag dark with light text.
    expect(share(r, l!.badge, isGreen)).toBeGreaterThan(0.5);
    expect(share(r, l!.badge, (p) => !isGreen(p) && p[1] < 128)).toBeGreaterThan(0.03); // the digit's strokes
    expect(share(r, l!.tag!, isDark)).toBeGreaterThan(0.5);
    expect(share(r, l!.tag!, isLight)).toBeGreaterThan(0.05);
    // Before annotation that strip was plain background.
    const before = await raster(img);
    expect(share(before, l!.badge, (p) => near(p, BG, 0))).toBe(1);
  });

  it('draws the number itself: badges for boxes 1 and 2 differ, each tag shows its own label', async () => {
    const boxes = [
      { x1: 20, y1: 60, x2: 80, y2: 100, label: 'cat' },
      { x1: 200, y1: 60, x2: 260, y2: 100, label: 'cat' },
      { x1: 20, y1: 180, x2: 80, y2: 220, label: 'dog' },
    ];
    const layout = annotationLayout(W, H, boxes);
    const r = await raster((await annotate(img, boxes)).png);
    const pixels = (reg: Region) => {
      const out: string[] = [];
      for (let y = reg.top; y < reg.top + reg.height; y++) for (let x = reg.left; x < reg.left + reg.width; x++) out.push(r.at(x, y).join(','));
      return out.join(';');
    };
    expect(layout.map((l) => l.badge.width)).toEqual([layout[0]!.badge.width, layout[0]!.badge.width, layout[0]!.badge.width]);
    expect(pixels(layout[0]!.badge)).not.toBe(pixels(layout[1]!.badge)); // "1" vs "2"
    expect(pixels(layout[0]!.tag!)).toBe(pixels(layout[1]!.tag!)); // same label, same tag
    expect(pixels(layout[0]!.tag!)).not.toBe(pixels(layout[2]!.tag!)); // "cat" vs "dog"
  });

  it('clips boxes to the image and keeps the header inside when a box touches an edge', async () => {
    const boxes = [
      { x1: -30, y1: -20, x2: 40, y2: 50, label: 'top left' },
      { x1: 250, y1: 200, x2: 400, y2: 300, label: 'a label far too long to fit at the right edge' },
    ];
    const layout = annotationLayout(W, H, boxes);
    expect(layout[0]!.box).toEqual({ x1: 0, y1: 0, x2: 40, y2: 50 });
    expect(layout[1]!.box).toEqual({ x1: 250, y1: 200, x2: W, y2: H });
    expect(layout[0]!.badge.top).toBe(0); // no room above: inside the box's top edge
    for (const l of layout) {
      for (const reg of [l.badge, l.tag!]) {
        expect(reg.left).toBeGreaterThanOrEqual(0);
        expect(reg.top).toBeGreaterThanOrEqual(0);
        expect(reg.left + reg.width).toBeLessThanOrEqual(W);
        expect(reg.top + reg.height).toBeLessThanOrEqual(H);
      }
    }
    expect(layout[1]!.text.endsWith('..')).toBe(true); // shortened to fit the image width
    const r = await raster((await annotate(img, boxes)).png);
    expect(r.at(0, 45)).toEqual(GREEN); // the clipped left band lies on the image edge
    expect(r.at(39, 45)).toEqual(GREEN);
    expect(r.at(W - 1, 230)).toEqual(GREEN);
    expect(r.at(280, H - 1)).toEqual(GREEN);
    expect(share(r, layout[1]!.badge, isGreen)).toBeGreaterThan(0.5);
    expect(share(r, layout[0]!.badge, isGreen)).toBeGreaterThan(0.5);
  });

  it('draws XML-special and non-ASCII labels without breaking the overlay', async () => {
    const boxes = [
      { x1: 100, y1: 80, x2: 160, y2: 140, label: `</svg><script>&amp;"'</script>` },
      { x1: 20, y1: 60, x2: 80, y2: 100, label: 'café ☕ 猫' },
      { x1: 200, y1: 60, x2: 260, y2: 100, label: '' },
    ];
    const out = await annotate(img, boxes);
    expect([out.width, out.height]).toEqual([W, H]);
    const r = await raster(out.png);
    const layout = annotationLayout(W, H, boxes);
    expect(share(r, layout[0]!.tag!, isDark)).toBeGreaterThan(0.5);
    expect(share(r, layout[1]!.tag!, isLight)).toBeGreaterThan(0.05);
    expect(layout[2]!.tag).toBeNull(); // nothing to say: badge only
    expect(share(r, layout[2]!.badge, isGreen)).toBeGreaterThan(0.5);
    expect(r.at(100, 110)).toEqual(GREEN);
  });

  it('marks boxes under one pixel and boxes off the image with at least one pixel', async () => {
    const boxes = [
      { x1: 50.2, y1: 200.1, x2: 50.4, y2: 200.3, label: 'speck' },
      { x1: 500, y1: 10, x2: 520, y2: 30, label: 'outside' },
    ];
    const layout = annotationLayout(W, H, boxes);
    expect(layout[0]!.box).toEqual({ x1: 50, y1: 200, x2: 51, y2: 201 });
    expect(layout[1]!.box).toEqual({ x1: W - 1, y1: 10, x2: W, y2: 30 });
    const r = await raster((await annotate(img, boxes)).png);
    expect(r.at(50, 200)).toEqual(GREEN);
    expect(r.at(51, 201)).toEqual(BG);
    expect(r.at(W - 1, 28)).toEqual(GREEN); // below the header, which sits inside this box's top
  });

  it('keeps the size of RGBA and greyscale inputs and draws green on them', async () => {
    const rgba = await sharp({ create: { width: 90, height: 70, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const grey = await sharp({ create: { width: 90, height: 70, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .greyscale()
      .png()
      .toBuffer();
    for (const input of [rgba, grey]) {
      const out = await annotate(input, [{ x1: 10, y1: 30, x2: 60, y2: 60, label: 'x' }]);
      expect([out.width, out.height]).toEqual([90, 70]);
      expect((await raster(out.png)).at(10, 45)).toEqual(GREEN);
    }
  });

  it('names what is wrong with bad input', async () => {
    await expect(annotate(Buffer.alloc(0), [])).rejects.toThrow(/annotate: image is empty/);
    await expect(annotate(Buffer.from('not an image'), [])).rejects.toThrow(ValidationError);
    await expect(annotate(img, [{ x1: Number.NaN, y1: 0, x2: 1, y2: 1, label: 'a' }])).rejects.toThrow(/box 1: box x1 must be a finite number, got NaN/);
    await expect(annotate(img, [], { color: 'red"/><x' })).rejects.toThrow(/color must be #rrggbb/);
  });
});

describe('cropRegion', () => {
  it('pads by 10% of the box width left/right and 10% of its height top/bottom', () => {
    expect(cropRegion({ x1: 50, y1: 40, x2: 150, y2: 100 }, W, H)).toEqual({ left: 40, top: 34, width: 120, height: 72 });
    expect(cropRegion({ x1: 50, y1: 40, x2: 150, y2: 100 }, W, H, 0)).toEqual({ left: 50, top: 40, width: 100, height: 60 });
    expect(cropRegion({ x1: 50, y1: 40, x2: 150, y2: 100 }, W, H, 0.25)).toEqual({ left: 25, top: 25, width: 150, height: 90 });
  });

  it('rounds fractional edges outwards without adding a pixel to exact ones', () => {
    // pad 2 px: 8.5..32.5 -> 8..33
    expect(cropRegion({ x1: 10.5, y1: 20.5, x2: 30.5, y2: 40.5 }, W, H)).toEqual({ left: 8, top: 18, width: 25, height: 25 });
    // 0.1 * 30 is 3.0000000000000004 in floating point: still exactly 3 px
    expect(cropRegion({ x1: 30, y1: 30, x2: 60, y2: 60 }, W, H)).toEqual({ left: 27, top: 27, width: 36, height: 36 });
  });

  it('clips the padding at the image edges', () => {
    expect(cropRegion({ x1: 0, y1: 0, x2: 100, y2: 50 }, W, H)).toEqual({ left: 0, top: 0, width: 110, height: 55 });
    expect(cropRegion({ x1: 280, y1: 200, x2: 320, y2: 240 }, W, H)).toEqual({ left: 276, top: 196, width: 44, height: 44 });
    expect(cropRegion({ x1: -50, y1: -50, x2: 400, y2: 300 }, W, H)).toEqual({ left: 0, top: 0, width: W, height: H });
  });

  it('gives at least a 1x1 region for degenerate, swapped and off-image boxes', () => {
    expect(cropRegion({ x1: 10.2, y1: 10.2, x2: 10.4, y2: 10.4 }, W, H)).toEqual({ left: 10, top: 10, width: 1, height: 1 });
    expect(cropRegion({ x1: 10, y1: 10, x2: 10, y2: 10 }, W, H)).toEqual({ left: 10, top: 10, width: 1, height: 1 });
    expect(cropRegion({ x1: W, y1: H, x2: W, y2: H }, W, H)).toEqual({ left: W - 1, top: H - 1, width: 1, height: 1 });
    expect(cropRegion({ x1: -20, y1: -20, x2: -10, y2: -10 }, W, H)).toEqual({ left: 0, top: 0, width: 1, height: 1 });
    expect(cropRegion({ x1: 150, y1: 100, x2: 50, y2: 40 }, W, H)).toEqual({ left: 40, top: 34, width: 120, height: 72 });
  });

  it('refuses non-finite coordinates and negative padding', () => {
    expect(() => cropRegion({ x1: 0, y1: 0, x2: Infinity, y2: 1 }, W, H)).toThrow(/x2 must be a finite number/);
    expect(() => cropRegion({ x1: 0, y1: 0, x2: 1, y2: 1 }, W, H, -0.1)).toThrow(/padFraction must be a finite number >= 0/);
  });
});

describe('fitLongSide', () => {
  it('makes the long side exact and keeps the aspect ratio', () => {
    expect(fitLongSide(120, 72, 640)).toEqual({ width: 640, height: 384 });
    expect(fitLongSide(36, 108, 640)).toEqual({ width: 213, height: 640 }); // 213.33
    expect(fitLongSide(1, 1, 640)).toEqual({ width: 640, height: 640 });
    expect(fitLongSide(2000, 1, 640)).toEqual({ width: 640, height: 1 });
  });
});

describe('cropForVerification', () => {
  let img: Buffer;
  beforeAll(async () => {
    img = await scene();
  });

  it('shows the object centred with the padding around it, resized to a 640 px long side', async () => {
    // The square's box, 60x60, padded by 6 px on every side: 72x72 -> 640x640 (x8.89).
    const c = await cropForVerification(img, { x1: 100, y1: 80, x2: 160, y2: 140 });
    expect(c.region).toEqual({ left: 94, top: 74, width: 72, height: 72 });
    expect([c.width, c.height]).toEqual([640, 640]);
    const meta = await sharp(c.png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 640, 640]);
    const r = await raster(c.png);
    const s = 640 / 72;
    expect(r.at(320, 320)).toEqual(RED);
    // Inside the square (6..65 in region pixels) vs in the padding (0..5 and 66..71).
    expect(near(r.at(Math.round(8 * s), Math.round(36 * s)), RED)).toBe(true);
    expect(near(r.at(Math.round(63 * s), Math.round(36 * s)), RED)).toBe(true);
    for (const [x, y] of [
      [10, 10],
      [630, 10],
      [10, 630],
      [630, 630],
      [20, 320],
      [320, 620],
    ] as const)
      expect(near(r.at(x, y), BG)).toBe(true);
    // The object fills (60/72)^2 = 69% of the crop.
    expect(share(r, { left: 0, top: 0, width: 640, height: 640 }, (p) => near(p, RED, 30))).toBeCloseTo((60 / 72) ** 2, 1);
  });

  it('keeps the aspect ratio for wide and tall boxes', async () => {
    const wide = await cropForVerification(img, { x1: 50, y1: 40, x2: 150, y2: 100 });
    expect(wide.region).toEqual({ left: 40, top: 34, width: 120, height: 72 });
    expect([wide.width, wide.height]).toEqual([640, 384]);
    const tall = await cropForVerification(img, { x1: 100, y1: 50, x2: 130, y2: 140 });
    expect(tall.region).toEqual({ left: 97, top: 41, width: 36, height: 108 });
    expect([tall.width, tall.height]).toEqual([213, 640]);
    const meta = await sharp(tall.png).metadata();
    expect([meta.width, meta.height]).toEqual([213, 640]);
  });

  it('clips the crop at the image edge and shows what is there', async () => {
    // The square's right half, padded past the right edge of a 130 px wide image.
    const narrow = await sharp(img).extract({ left: 0, top: 0, width: 130, height: H }).png().toBuffer();
    const c = await cropForVerification(narrow, { x1: 100, y1: 80, x2: 130, y2: 140 });
    expect(c.region).toEqual({ left: 97, top: 74, width: 33, height: 72 });
    expect([c.width, c.height]).toEqual([293, 640]);
    const r = await raster(c.png);
    expect(r.at(c.width - 1, 320)).toEqual(RED); // the object runs to the crop's right edge
    expect(near(r.at(5, 320), BG)).toBe(true); // 3 px of padding on the left
  });

  it('upscales tiny boxes, and a box under one pixel still gives a crop', async () => {
    const tiny = await cropForVerification(img, { x1: 120, y1: 100, x2: 124, y2: 104 });
    expect(tiny.region).toEqual({ left: 119, top: 99, width: 6, height: 6 });
    expect([tiny.width, tiny.height]).toEqual([640, 640]);
    expect((await raster(tiny.png)).at(320, 320)).toEqual(RED);
    const speck = await cropForVerification(img, { x1: 10.3, y1: 10.3, x2: 10.4, y2: 10.4 });
    expect(speck.region).toEqual({ left: 10, top: 10, width: 1, height: 1 });
    expect([speck.width, speck.height]).toEqual([640, 640]);
    expect(near((await raster(speck.png)).at(100, 500), BG)).toBe(true);
  });

  it('resizes with a bicubic kernel: a step edge overshoots, which bilinear never does', async () => {
    // Two flat grey halves (100 | 150); Catmull-Rom's negative lobes ring next to the step.
    const step = await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 100, g: 100, b: 100 } } })
      .composite([{ input: { create: { width: 10, height: 10, channels: 3, background: { r: 150, g: 150, b: 150 } } }, left: 10, top: 0 }])
      .png()
      .toBuffer();
    const c = await cropForVerification(step, { x1: 0, y1: 0, x2: 20, y2: 10 }, { padFraction: 0 });
    expect([c.width, c.height]).toEqual([640, 320]);
    const r = await raster(c.png);
    const row = Array.from({ length: 640 }, (_, x) => r.at(x, 160)[0]);
    expect(Math.min(...row)).toBeLessThan(100);
    expect(Math.max(...row)).toBeGreaterThan(150);
  });

  it('honours padFraction and longSide, and refuses a bad longSide', async () => {
    const c = await cropForVerification(img, { x1: 100, y1: 80, x2: 160, y2: 140 }, { padFraction: 0, longSide: 120 });
    expect(c.region).toEqual({ left: 100, top: 80, width: 60, height: 60 });
    expect([c.width, c.height]).toEqual([120, 120]);
    const r = await raster(c.png);
    expect(share(r, { left: 2, top: 2, width: 116, height: 116 }, (p) => near(p, RED, 4))).toBe(1);
    await expect(cropForVerification(img, { x1: 0, y1: 0, x2: 5, y2: 5 }, { longSide: 0 })).rejects.toThrow(/longSide must be a positive integer, got 0/);
  });
});

describe('toPng', () => {
  /** Random pixels: any resampling or lossy step would change them. */
  const noise = (w: number, h: number, channels: 3 | 4) => {
    const data = Buffer.alloc(w * h * channels);
    let s = 12345;
    for (let i = 0; i < data.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      data[i] = s >>> 24;
    }
    return sharp(data, { raw: { width: w, height: h, channels } });
  };
  const rawOf = async (img: Buffer) => await sharp(img).raw().toBuffer({ resolveWithObject: true });

  it('keeps every pixel of a PNG, at its size', async () => {
    const src = await noise(97, 61, 3).png().toBuffer();
    const out = await toPng(src);
    expect([out.width, out.height]).toEqual([97, 61]);
    expect((await sharp(out.png).metadata()).format).toBe('png');
    const a = await rawOf(src);
    const b = await rawOf(out.png);
    expect(b.info.channels).toBe(3);
    expect(b.data.equals(a.data)).toBe(true);
  });

  it('keeps the decoded pixels of a JPEG (lossless from the decode on) and of an RGBA PNG', async () => {
    const jpeg = await noise(64, 48, 3).jpeg({ quality: 70 }).toBuffer();
    expect((await rawOf((await toPng(jpeg)).png)).data.equals((await rawOf(jpeg)).data)).toBe(true);
    const rgba = await noise(33, 17, 4).png().toBuffer();
    const out = await rawOf((await toPng(rgba)).png);
    expect(out.info.channels).toBe(4);
    expect(out.data.equals((await rawOf(rgba)).data)).toBe(true);
  });

  it('refuses bytes that are not an image', async () => {
    await expect(toPng(Buffer.from('GIF89a garbage'))).rejects.toThrow(/toPng: cannot read the image/);
  });
});
