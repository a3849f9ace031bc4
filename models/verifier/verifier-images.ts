// The images VALOR's verifier shows the VLM: the clean image, an annotated copy (each box
// in green with its number and label) for the list stages, and a padded, upscaled crop per
// box for the crop stage. Boxes are in the stored pixel grid (no EXIF rotation, as in
// preprocess.ts), in pixel-edge xyxy coordinates.
//
// Text is drawn with a small built-in stroke font rather than SVG <text>: librsvg needs
// system fonts for <text>, and the slim runtime image has none, so the badge numbers (the
// only link between the list in the prompt and the boxes in the picture) would silently
// vanish. Strokes also make the output identical on every machine.
import sharp, { type Metadata, type Sharp } from 'sharp';
import { ValidationError } from '../../core/errors';

export interface AnnotatedBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  label: string;
}

export interface AnnotateOptions {
  /** Box outline and badge colour, `#rrggbb`. */
  color?: string;
  /** Outline thickness in pixels, drawn inside the box edge (as PIL's rectangle width). */
  strokeWidth?: number;
  /** Cap height of the badge and label text in pixels; by default it follows the image size. */
  textHeight?: number;
}

export interface CropOptions {
  /** Padding on each side as a fraction of the box width (left/right) and height (top/bottom). */
  padFraction?: number;
  /** The crop is resized so its longer side is exactly this many pixels. */
  longSide?: number;
}

export interface ImageOut {
  png: Buffer;
  width: number;
  height: number;
}

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

export const DEFAULT_BOX_COLOR = '#00ff00';
export const DEFAULT_STROKE_WIDTH = 3;
export const DEFAULT_CROP: Required<CropOptions> = { padFraction: 0.1, longSide: 640 };

const BADGE_TEXT = '#000000';
const TAG_FILL = '#000000';
const TAG_TEXT = '#ffffff';

// ---- decoding ----

function open(image: Buffer): Sharp {
  // autoOrient off: boxes are in the stored pixel grid (sharp 0.35's default, stated anyway).
  return sharp(image, { autoOrient: false });
}

async function dimensions(image: Buffer, what: string): Promise<{ width: number; height: number }> {
  if (!Buffer.isBuffer(image) || image.length === 0) throw new ValidationError(`${what}: image is empty (0 bytes)`);
  let meta: Metadata;
  try {
    meta = await open(image).metadata();
  } catch (err) {
    throw new ValidationError(`${what}: cannot read the image: ${(err as Error).message}`, { cause: err });
  }
  if (!(meta.width > 0 && meta.height > 0)) throw new ValidationError(`${what}: the image header has no dimensions`);
  return { width: meta.width, height: meta.height };
}

function checkBox(b: AnnotatedBox | Omit<AnnotatedBox, 'label'>, what: string): void {
  for (const k of ['x1', 'y1', 'x2', 'y2'] as const) {
    if (typeof b[k] !== 'number' || !Number.isFinite(b[k])) throw new ValidationError(`${what}: box ${k} must be a finite number, got ${String(b[k])}`);
  }
}

async function encode(pipeline: Sharp, what: string): Promise<ImageOut> {
  try {
    // Fast, light compression: these PNGs live for one request, and zlib at its default
    // level costs more CPU than the extra bytes cost upload (the bench shows it).
    const { data, info } = await pipeline.png({ compressionLevel: 2, adaptiveFiltering: false }).toBuffer({ resolveWithObject: true });
    return { png: data, width: info.width, height: info.height };
  } catch (err) {
    throw new ValidationError(`${what}: cannot process the image: ${(err as Error).message}`, { cause: err });
  }
}

// ---- the clean image ----

/**
 * The clean image as PNG at its stored size. PNG is lossless, so the decoded pixels are the
 * ones the input decodes to (fingerprints over raw pixels match); metadata is dropped.
 */
export async function toPng(image: Buffer): Promise<ImageOut> {
  await dimensions(image, 'toPng');
  return encode(open(image), 'toPng');
}

// ---- crops ----

// Rounding a padded edge outwards must not add a pixel because 0.1 * 30 is 3.0000000000000004.
const EPS = 1e-6;

/**
 * The crop region for a box: padded by `padFraction` of the box width on the left and right
 * and of its height on the top and bottom, rounded outwards to whole pixels, clipped to the
 * image, and never smaller than 1x1 (a degenerate or off-image box gets the nearest pixel).
 */
export function cropRegion(box: Omit<AnnotatedBox, 'label'>, width: number, height: number, padFraction = DEFAULT_CROP.padFraction): Region {
  checkBox(box, 'cropRegion');
  if (!(Number.isFinite(padFraction) && padFraction >= 0))
    throw new ValidationError(`cropRegion: padFraction must be a finite number >= 0, got ${padFraction}`);
  const axis = (a: number, b: number, size: number): [number, number] => {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const pad = padFraction * (hi - lo);
    let start = Math.min(size, Math.max(0, Math.floor(lo - pad + EPS)));
    let end = Math.min(size, Math.max(0, Math.ceil(hi + pad - EPS)));
    if (end - start < 1) {
      start = Math.min(start, size - 1);
      end = start + 1;
    }
    return [start, end - start];
  };
  const [left, w] = axis(box.x1, box.x2, width);
  const [top, h] = axis(box.y1, box.y2, height);
  return { left, top, width: w, height: h };
}

/** Output size with the long side exactly `longSide` and the aspect ratio kept (short side >= 1). */
export function fitLongSide(width: number, height: number, longSide: number): { width: number; height: number } {
  if (width >= height) return { width: longSide, height: Math.max(1, Math.round((height * longSide) / width)) };
  return { width: Math.max(1, Math.round((width * longSide) / height)), height: longSide };
}

/**
 * The method's stage-2 view of one box: the padded region, resized (bicubic, up or down) so
 * its long side is `longSide`. `region` is where the crop lies in the image.
 */
export async function cropForVerification(image: Buffer, box: Omit<AnnotatedBox, 'label'>, opts: CropOptions = {}): Promise<ImageOut & { region: Region }> {
  const padFraction = opts.padFraction ?? DEFAULT_CROP.padFraction;
  const longSide = opts.longSide ?? DEFAULT_CROP.longSide;
  if (!(Number.isInteger(longSide) && longSide >= 1)) throw new ValidationError(`cropForVerification: longSide must be a positive integer, got ${longSide}`);
  const { width, height } = await dimensions(image, 'cropForVerification');
  const region = cropRegion(box, width, height, padFraction);
  const size = fitLongSide(region.width, region.height, longSide);
  // extract() before resize() in sharp's chain is a pre-resize extraction. 'cubic' is
  // Catmull-Rom, the kernel of PIL's BICUBIC that the reference implementation used.
  const out = await encode(open(image).extract(region).resize(size.width, size.height, { kernel: 'cubic', fit: 'fill' }), 'cropForVerification');
  return { ...out, region };
}

// ---- annotation ----

// Stroke font: each glyph is polylines on a 4-wide, 6-tall grid (y down, baseline at 6),
// strokes separated by '|'. Letters are drawn as capitals; anything else is a hollow box.
const GLYPHS: Record<string, string> = {
  '0': '1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0|3.5,1 0.5,5',
  '1': '1,1 2,0 2,6|1,6 3,6',
  '2': '0,1 1,0 3,0 4,1 4,2 0,6 4,6',
  '3': '0,0 4,0 2,2 3,2 4,3 4,5 3,6 1,6 0,5',
  '4': '3,6 3,0 0,4 4,4',
  '5': '4,0 0,0 0,2.5 3,2.5 4,3.5 4,5 3,6 0,6',
  '6': '4,0 1,0 0,1 0,5 1,6 3,6 4,5 4,4 3,3 0,3',
  '7': '0,0 4,0 1,6',
  '8': '1,0 3,0 4,1 4,2 3,3 1,3 0,2 0,1 1,0|1,3 0,4 0,5 1,6 3,6 4,5 4,4 3,3',
  '9': '0,6 3,6 4,5 4,1 3,0 1,0 0,1 0,2 1,3 4,3',
  A: '0,6 0,2 2,0 4,2 4,6|0,4 4,4',
  B: '0,0 3,0 4,1 4,2 3,3 0,3|3,3 4,4 4,5 3,6 0,6 0,0',
  C: '4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5',
  D: '0,0 3,0 4,1 4,5 3,6 0,6 0,0',
  E: '4,0 0,0 0,6 4,6|0,3 3,3',
  F: '4,0 0,0 0,6|0,3 3,3',
  G: '4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5 4,3 2,3',
  H: '0,0 0,6|4,0 4,6|0,3 4,3',
  I: '1,0 3,0|2,0 2,6|1,6 3,6',
  J: '4,0 4,5 3,6 1,6 0,5',
  K: '0,0 0,6|4,0 0,4|1,3 4,6',
  L: '0,0 0,6 4,6',
  M: '0,6 0,0 2,3 4,0 4,6',
  N: '0,6 0,0 4,6 4,0',
  O: '1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0',
  P: '0,6 0,0 3,0 4,1 4,2 3,3 0,3',
  Q: '1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0|2,4 4,6',
  R: '0,6 0,0 3,0 4,1 4,2 3,3 0,3|2,3 4,6',
  S: '4,1 3,0 1,0 0,1 0,2 1,3 3,3 4,4 4,5 3,6 1,6 0,5',
  T: '0,0 4,0|2,0 2,6',
  U: '0,0 0,5 1,6 3,6 4,5 4,0',
  V: '0,0 2,6 4,0',
  W: '0,0 1,6 2,3 3,6 4,0',
  X: '0,0 4,6|4,0 0,6',
  Y: '0,0 2,3 4,0|2,3 2,6',
  Z: '0,0 4,0 0,6 4,6',
  ' ': '',
  '-': '1,3 3,3',
  _: '0,6 4,6',
  '.': '2,5.6 2,6',
  ',': '2,5 1.5,7',
  ':': '2,1.6 2,2|2,5.6 2,6',
  ';': '2,1.6 2,2|2,5 1.5,7',
  '/': '0,6 4,0',
  '\\': '0,0 4,6',
  '(': '3,0 1.5,1.5 1.5,4.5 3,6',
  ')': '1,0 2.5,1.5 2.5,4.5 1,6',
  "'": '2,0 2,1.5',
  '"': '1,0 1,1.5|3,0 3,1.5',
  '<': '4,0 0,3 4,6',
  '>': '0,0 4,3 0,6',
  '=': '0,2 4,2|0,4 4,4',
  '+': '2,1 2,5|0,3 4,3',
  '*': '2,1 2,5|0.5,2 3.5,4|3.5,2 0.5,4',
  '#': '1,0 1,6|3,0 3,6|0,2 4,2|0,4 4,4',
  '&': '4,6 1,2 1,1 2,0 3,1 3,2 0,4 0,5 1,6 2,6 4,4',
  '%': '0,6 4,0|0.5,0.5 1,0.5 1,1 0.5,1 0.5,0.5|3,5 3.5,5 3.5,5.5 3,5.5 3,5',
  '!': '2,0 2,4|2,5.6 2,6',
  '?': '0,1 1,0 3,0 4,1 4,2 2,3 2,4|2,5.6 2,6',
  '@': '3,4 3,2 1,2 1,4 3,4 4,3 4,1 3,0 1,0 0,1 0,5 1,6 4,6',
};
const UNKNOWN_GLYPH = '0,0 4,0 4,6 0,6 0,0';
const ADVANCE = 5; // grid units per character (4 wide + 1 space)

function glyphFor(ch: string): string {
  return GLYPHS[ch] ?? GLYPHS[ch.toUpperCase()] ?? UNKNOWN_GLYPH;
}

/** Width in pixels of `text` at cap height `h` (no trailing letter space). */
function textWidth(chars: number, h: number): number {
  return chars === 0 ? 0 : ((chars * ADVANCE - 1) * h) / 6;
}

/** SVG path data for `text` with its top-left corner at (x, y) and cap height h. */
function textPath(text: string, x: number, y: number, h: number): string {
  const u = h / 6;
  const f = (v: number) => (Math.round(v * 100) / 100).toString();
  let d = '';
  [...text].forEach((ch, i) => {
    const ox = x + i * ADVANCE * u;
    for (const stroke of glyphFor(ch).split('|')) {
      if (!stroke) continue;
      const pts = stroke.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
      d += pts.map(([px, py], k) => `${k === 0 ? 'M' : 'L'}${f(ox + px * u)} ${f(y + py * u)}`).join('');
    }
  });
  return d;
}

/** Where one box's outline, number badge and label tag go, in whole pixels. */
export interface BoxLayout {
  index: number;
  /** The box rounded and clipped to the image (at least 1x1). */
  box: { x1: number; y1: number; x2: number; y2: number };
  badge: Region;
  /** Absent when the image is too narrow for even one character of the label. */
  tag: Region | null;
  /** The label as drawn (may be shortened to fit the image width). */
  text: string;
}

interface Resolved {
  color: string;
  stroke: number;
  textHeight: number;
  pad: number;
}

function resolveOptions(width: number, height: number, opts: AnnotateOptions): Resolved {
  const color = opts.color ?? DEFAULT_BOX_COLOR;
  // The colour goes into SVG attributes: only a plain hex colour, nothing to escape.
  if (!/^#[0-9a-fA-F]{6}$/.test(color)) throw new ValidationError(`annotate: color must be #rrggbb, got '${color}'`);
  const stroke = opts.strokeWidth ?? DEFAULT_STROKE_WIDTH;
  if (!(Number.isInteger(stroke) && stroke >= 1)) throw new ValidationError(`annotate: strokeWidth must be a positive integer, got ${stroke}`);
  // About 3% of the short side: readable after the VLM's own downscaling, small enough not
  // to hide neighbouring objects.
  const textHeight = opts.textHeight ?? Math.min(30, Math.max(9, Math.round(Math.min(width, height) * 0.03)));
  if (!(Number.isFinite(textHeight) && textHeight >= 4)) throw new ValidationError(`annotate: textHeight must be a number >= 4, got ${textHeight}`);
  return { color, stroke, textHeight, pad: Math.max(2, Math.round(textHeight * 0.3)) };
}

function clipBox(b: AnnotatedBox, W: number, H: number): BoxLayout['box'] {
  const axis = (a: number, c: number, size: number): [number, number] => {
    let lo = Math.min(size, Math.max(0, Math.round(Math.min(a, c))));
    let hi = Math.min(size, Math.max(0, Math.round(Math.max(a, c))));
    if (hi - lo < 1) {
      lo = Math.min(lo, size - 1);
      hi = lo + 1;
    }
    return [lo, hi];
  };
  const [x1, x2] = axis(b.x1, b.x2, W);
  const [y1, y2] = axis(b.y1, b.y2, H);
  return { x1, y1, x2, y2 };
}

function layoutWith(width: number, height: number, boxes: AnnotatedBox[], o: Resolved): BoxLayout[] {
  const charW = (ADVANCE * o.textHeight) / 6;
  const headerH = Math.ceil(o.textHeight + 2 * o.pad);
  return boxes.map((b, i) => {
    checkBox(b, `annotate: box ${i + 1}`);
    const box = clipBox(b, width, height);
    const number = String(i + 1);
    const badgeW = Math.ceil(textWidth(number.length, o.textHeight) + 2 * o.pad);
    // The label is shortened (ending in "..") when the header would be wider than the image.
    const room = width - badgeW - 2 * o.pad;
    const label = String(b.label ?? '');
    const chars = [...label];
    let text = label;
    if (textWidth(chars.length, o.textHeight) > room) {
      const fit = Math.floor((room + o.textHeight / 6) / charW);
      text = fit >= 3 ? chars.slice(0, fit - 2).join('') + '..' : chars.slice(0, Math.max(0, fit)).join('');
    }
    const tagW = text ? Math.ceil(textWidth([...text].length, o.textHeight) + 2 * o.pad) : 0;
    const headerW = badgeW + tagW;
    // Above the box's top-left corner when there is room, else just inside its top edge;
    // always within the image.
    let top = box.y1 - headerH >= 0 ? box.y1 - headerH : box.y1;
    top = Math.max(0, Math.min(top, height - headerH));
    const left = Math.max(0, Math.min(box.x1, width - headerW));
    return {
      index: i + 1,
      box,
      badge: { left, top, width: badgeW, height: headerH },
      tag: tagW ? { left: left + badgeW, top, width: tagW, height: headerH } : null,
      text,
    };
  });
}

/** The layout `annotate` draws, for tests and for callers that want to know where labels went. */
export function annotationLayout(width: number, height: number, boxes: AnnotatedBox[], opts: AnnotateOptions = {}): BoxLayout[] {
  return layoutWith(width, height, boxes, resolveOptions(width, height, opts));
}

function annotationSvg(width: number, height: number, boxes: AnnotatedBox[], opts: AnnotateOptions): string {
  const o = resolveOptions(width, height, opts);
  const layout = layoutWith(width, height, boxes, o);
  const rect = (r: Region, fill: string) => `<rect x="${r.left}" y="${r.top}" width="${r.width}" height="${r.height}" fill="${fill}"/>`;
  const lineW = Math.max(1.2, o.textHeight / 7).toFixed(2);
  const text = (d: string, colour: string) =>
    d ? `<path d="${d}" fill="none" stroke="${colour}" stroke-width="${lineW}" stroke-linecap="round" stroke-linejoin="round"/>` : '';
  // Outlines as four filled bands inside the box edge: exact pixels at any size, and a box
  // thinner than two strokes simply becomes solid.
  const outlines = layout.map(({ box: { x1, y1, x2, y2 } }) => {
    const tw = Math.min(o.stroke, x2 - x1);
    const th = Math.min(o.stroke, y2 - y1);
    return [
      rect({ left: x1, top: y1, width: x2 - x1, height: th }, o.color),
      rect({ left: x1, top: y2 - th, width: x2 - x1, height: th }, o.color),
      rect({ left: x1, top: y1, width: tw, height: y2 - y1 }, o.color),
      rect({ left: x2 - tw, top: y1, width: tw, height: y2 - y1 }, o.color),
    ].join('');
  });
  // Labels after all outlines, so no outline crosses a number.
  const labels = layout.map((l) => {
    const ty = l.badge.top + o.pad;
    let s = `<g shape-rendering="crispEdges">${rect(l.badge, o.color)}${l.tag ? rect(l.tag, TAG_FILL) : ''}</g>`;
    s += text(textPath(String(l.index), l.badge.left + o.pad, ty, o.textHeight), BADGE_TEXT);
    if (l.tag) s += text(textPath(l.text, l.tag.left + o.pad, ty, o.textHeight), TAG_TEXT);
    return s;
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<g shape-rendering="crispEdges">${outlines.join('')}</g>${labels.join('')}</svg>`
  );
}

/**
 * The method's annotated copy: every box outlined in green (inside its edge), with a filled
 * badge holding its 1-based number and a tag with its label at its top-left corner. Same
 * size as the input, PNG.
 */
export async function annotate(image: Buffer, boxes: AnnotatedBox[], opts: AnnotateOptions = {}): Promise<ImageOut> {
  const { width, height } = await dimensions(image, 'annotate');
  const svg = annotationSvg(width, height, boxes, opts);
  return encode(open(image).composite([{ input: Buffer.from(svg), left: 0, top: 0 }]), 'annotate');
}
