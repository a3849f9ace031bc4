// A synthetic image-query corpus whose ground truth is known exactly, so the grounding and
// reward stages can be measured end to end without a labelled real-world data set.
//
// Box convention: [x1, y1, x2, y2] in absolute pixel-edge coordinates (xyxy, as COCO's
// converted boxes and most detectors use). Every shape's geometry spans exactly that
// rectangle, so the box is tight; the pixels it covers are columns x1..x2-1, rows y1..y2-1.
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import sharp from 'sharp';
import { ConfigError } from '../core/errors';

export const SHAPES = ['circle', 'square', 'triangle', 'star'] as const;
export const COLORS = ['red', 'green', 'blue', 'yellow'] as const;
export type Shape = (typeof SHAPES)[number];
export type Color = (typeof COLORS)[number];

/** Fill colours: saturated and far from the light background and from each other. */
export const COLOR_RGB: Record<Color, readonly [number, number, number]> = {
  red: [220, 38, 38],
  green: [22, 163, 74],
  blue: [37, 99, 235],
  yellow: [234, 179, 8],
};

export type BBox = [number, number, number, number];
export type QuestionType = 'left' | 'right' | 'above' | 'below' | 'larger';

export interface SyntheticObject {
  category: string;
  bbox: BBox;
}

export interface GroundTruthRecord {
  id: string;
  image: string;
  width: number;
  height: number;
  objects: SyntheticObject[];
  question: string;
  answer: string;
  question_type: QuestionType;
}

export interface SyntheticCorpusOptions {
  outDir: string;
  count: number;
  seed: number;
  /** Fixes every image's width; when omitted widths vary per image over 320..800. */
  width?: number;
  /** Fixes every image's height; when omitted heights vary per image around 3/4 of the width. */
  height?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SyntheticCorpusResult {
  corpusFile: string;
  groundTruthFile: string;
  count: number;
}

// sharp/libvips already spreads one image over the cores; a few in flight hides the file I/O.
const RENDER_CONCURRENCY = 4;

// Hot loops use a local alias: a global `Math` lookup per call is 6x slower inside vm
// contexts (jest), whose global object sits behind interceptors.
const imul = Math.imul;

/** mulberry32: tiny, fast, good enough for layout, and identical on every platform. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Per-image streams (seed, index) keep image i the same whatever `count` is or the order
// renders finish in.
function imageSeed(seed: number, index: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  let h = 0x811c9dc5;
  for (const word of [lo, hi, index >>> 0]) {
    h = Math.imul(h ^ word, 0x01000193) >>> 0;
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d) >>> 0;
    h ^= h >>> 12;
  }
  return h >>> 0;
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

interface PlacedShape {
  shape: Shape;
  color: Color;
  category: string;
  bbox: BBox;
}

interface ImageSpec {
  id: string;
  file: string;
  width: number;
  height: number;
  shapes: PlacedShape[];
  svg: string;
  question: string;
  answer: string;
  questionType: QuestionType;
  pair: [PlacedShape, PlacedShape];
  program: string | null;
  noiseSeed: number;
}

// Height/width of a shape's box: triangles are equilateral, stars regular (see starPoints).
const STAR_INNER = 0.45; // inner/outer radius; fatter than a pentagram so it stays visible when small
const STAR_HALF_W = Math.cos((18 * Math.PI) / 180); // 0.951
const STAR_BOTTOM = Math.sin((54 * Math.PI) / 180); // 0.809
const ASPECT: Record<Shape, number> = {
  circle: 1,
  square: 1,
  triangle: Math.sqrt(3) / 2,
  star: (1 + STAR_BOTTOM) / (2 * STAR_HALF_W),
};

const MARGIN = 4; // keeps boxes off the image edge
const GAP = 8; // minimum clear space between boxes, so a box never contains another shape

function fmt(n: number): string {
  // Fixed precision keeps the SVG (and so the PNG) byte-stable.
  return Number.isInteger(n) ? String(n) : n.toFixed(3);
}

function starPoints([x1, y1, x2, y2]: BBox): string {
  const w = x2 - x1;
  const h = y2 - y1;
  const pts: string[] = [];
  for (let k = 0; k < 10; k++) {
    const angle = ((-90 + k * 36) * Math.PI) / 180;
    const r = k % 2 === 0 ? 1 : STAR_INNER;
    // Map the star's own extent (x in ±0.951, y in -1..0.809) exactly onto the box.
    const u = (r * Math.cos(angle) + STAR_HALF_W) / (2 * STAR_HALF_W);
    const v = (r * Math.sin(angle) + 1) / (1 + STAR_BOTTOM);
    pts.push(`${fmt(x1 + u * w)},${fmt(y1 + v * h)}`);
  }
  return pts.join(' ');
}

function shapeSvg(s: PlacedShape): string {
  const [x1, y1, x2, y2] = s.bbox;
  const [r, g, b] = COLOR_RGB[s.color];
  const fill = `fill="rgb(${r},${g},${b})"`;
  switch (s.shape) {
    case 'circle':
      return `<circle cx="${fmt((x1 + x2) / 2)}" cy="${fmt((y1 + y2) / 2)}" r="${fmt((x2 - x1) / 2)}" ${fill}/>`;
    case 'square':
      return `<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" ${fill}/>`;
    case 'triangle':
      return `<polygon points="${x1},${y2} ${x2},${y2} ${fmt((x1 + x2) / 2)},${y1}" ${fill}/>`;
    case 'star':
      return `<polygon points="${starPoints(s.bbox)}" ${fill}/>`;
  }
}

function buildSvg(rng: Rng, width: number, height: number, shapes: PlacedShape[]): string {
  // Light, slightly varied background: a gentle gradient (faint noise is added after
  // rasterising, see addBackgroundNoise — SVG feTurbulence was 6x slower).
  const light = () => `rgb(${rng.int(228, 250)},${rng.int(228, 250)},${rng.int(228, 250)})`;
  const c0 = light();
  const c1 = light();
  const angle = rng.int(0, 359);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs><linearGradient id="bg" gradientTransform="rotate(${angle} 0.5 0.5)">` +
    `<stop offset="0" stop-color="${c0}"/><stop offset="1" stop-color="${c1}"/></linearGradient></defs>` +
    `<rect width="${width}" height="${height}" fill="url(#bg)"/>` +
    shapes.map(shapeSvg).join('') +
    `</svg>`
  );
}

function overlaps(a: BBox, b: BBox, gap: number): boolean {
  return a[0] < b[2] + gap && b[0] < a[2] + gap && a[1] < b[3] + gap && b[1] < a[3] + gap;
}

function layout(rng: Rng, width: number, height: number): PlacedShape[] {
  const n = rng.int(2, 5);
  const categories = rng.shuffle(SHAPES.flatMap((shape) => COLORS.map((color) => ({ shape, color }))));
  const minDim = Math.min(width, height);
  const placed: PlacedShape[] = [];
  // Categories are distinct within an image so "the red circle" always names one object.
  for (const { shape, color } of categories.slice(0, n)) {
    let maxSize = Math.max(20, Math.round(minDim * 0.3));
    const minSize = Math.max(16, Math.round(minDim * 0.12));
    let done = false;
    for (let attempt = 0; attempt < 300 && !done; attempt++) {
      if (attempt > 0 && attempt % 100 === 0) maxSize = Math.max(minSize, Math.round(maxSize * 0.7));
      const w = rng.int(minSize, maxSize);
      const h = Math.max(8, Math.round(w * ASPECT[shape]));
      if (w + 2 * MARGIN > width || h + 2 * MARGIN > height) continue;
      const x1 = rng.int(MARGIN, width - MARGIN - w);
      const y1 = rng.int(MARGIN, height - MARGIN - h);
      const bbox: BBox = [x1, y1, x1 + w, y1 + h];
      if (placed.some((p) => overlaps(p.bbox, bbox, GAP))) continue;
      placed.push({ shape, color, category: `${color} ${shape}`, bbox });
      done = true;
    }
  }
  return placed;
}

const cx = (b: BBox) => (b[0] + b[2]) / 2;
const cy = (b: BBox) => (b[1] + b[3]) / 2;
const area = (b: BBox) => (b[2] - b[0]) * (b[3] - b[1]);

interface Question {
  type: QuestionType;
  a: PlacedShape;
  b: PlacedShape;
  question: string;
  answer: string;
}

/**
 * One question about an ordered pair, or null when the boxes make it ambiguous (centres
 * too close, sizes too similar) — the answer must follow from the boxes beyond doubt.
 */
function askAbout(type: QuestionType, a: PlacedShape, b: PlacedShape, width: number, height: number): Question | null {
  const dx = cx(a.bbox) - cx(b.bbox);
  const dy = cy(a.bbox) - cy(b.bbox);
  const minDx = Math.max(8, width * 0.04);
  const minDy = Math.max(8, height * 0.04);
  const yesNo = (v: boolean) => (v ? 'yes' : 'no');
  switch (type) {
    case 'left':
      return Math.abs(dx) < minDx ? null : { type, a, b, question: `Is the ${a.category} left of the ${b.category}?`, answer: yesNo(dx < 0) };
    case 'right':
      return Math.abs(dx) < minDx ? null : { type, a, b, question: `Is the ${a.category} right of the ${b.category}?`, answer: yesNo(dx > 0) };
    case 'above':
      return Math.abs(dy) < minDy ? null : { type, a, b, question: `Is the ${a.category} above the ${b.category}?`, answer: yesNo(dy < 0) };
    case 'below':
      return Math.abs(dy) < minDy ? null : { type, a, b, question: `Is the ${a.category} below the ${b.category}?`, answer: yesNo(dy > 0) };
    case 'larger': {
      const ra = area(a.bbox);
      const rb = area(b.bbox);
      if (Math.max(ra, rb) < 1.25 * Math.min(ra, rb)) return null;
      return { type, a, b, question: `Which is larger, the ${a.category} or the ${b.category}?`, answer: ra > rb ? a.category : b.category };
    }
  }
}

const QUESTION_TYPES: readonly QuestionType[] = ['left', 'right', 'above', 'below', 'larger'];

function chooseQuestion(rng: Rng, shapes: PlacedShape[], width: number, height: number): Question | null {
  const candidates: Array<[QuestionType, number, number]> = [];
  for (const t of QUESTION_TYPES) {
    for (let i = 0; i < shapes.length; i++) {
      for (let j = 0; j < shapes.length; j++) if (i !== j) candidates.push([t, i, j]);
    }
  }
  // Type first, then pair: keeps the five question types roughly equally frequent.
  const types = rng.shuffle([...QUESTION_TYPES]);
  for (const t of types) {
    const pairs = rng.shuffle(candidates.filter((c) => c[0] === t));
    for (const [, i, j] of pairs) {
      const q = askAbout(t, shapes[i], shapes[j], width, height);
      if (q) return q;
    }
  }
  return null;
}

const varName = (category: string) => category.replace(/\s+/g, '_');

/** A reasoning-LLM style answer (plan + program) whose detector call names the two phrases. */
function buildProgram(q: Question): string {
  const a = q.a.category;
  const b = q.b.category;
  const va = varName(a);
  const vb = varName(b);
  const steps: Record<QuestionType, [string, string]> = {
    left: ['Compare the horizontal centres of their boxes.', `final_answer = "yes" if (${va}[0] + ${va}[2]) / 2 < (${vb}[0] + ${vb}[2]) / 2 else "no"`],
    right: ['Compare the horizontal centres of their boxes.', `final_answer = "yes" if (${va}[0] + ${va}[2]) / 2 > (${vb}[0] + ${vb}[2]) / 2 else "no"`],
    above: ['Compare the vertical centres of their boxes (y grows downwards).', `final_answer = "yes" if (${va}[1] + ${va}[3]) / 2 < (${vb}[1] + ${vb}[3]) / 2 else "no"`],
    below: ['Compare the vertical centres of their boxes (y grows downwards).', `final_answer = "yes" if (${va}[1] + ${va}[3]) / 2 > (${vb}[1] + ${vb}[3]) / 2 else "no"`],
    larger: [
      'Compare the areas of their boxes.',
      `area_${va} = (${va}[2] - ${va}[0]) * (${va}[3] - ${va}[1])\n` +
        `area_${vb} = (${vb}[2] - ${vb}[0]) * (${vb}[3] - ${vb}[1])\n` +
        `final_answer = "${a}" if area_${va} > area_${vb} else "${b}"`,
    ],
  };
  const [compare, code] = steps[q.type];
  return (
    `<plan>1. Detect the ${a} and the ${b}.\n2. ${compare}\n3. Answer from the comparison.</plan>` +
    `<answer>\n` +
    // The method's tool API: gd_detect returns a list of {"bbox", "label"}.
    `dets = gd_detect(img, "${a}, ${b}")\n` +
    `${va} = [d["bbox"] for d in dets if d["label"] == "${a}"][0]\n` +
    `${vb} = [d["bbox"] for d in dets if d["label"] == "${b}"][0]\n` +
    `${code}\n` +
    `</answer>`
  );
}

function imageId(index: number): string {
  return `syn-${String(index + 1).padStart(6, '0')}`;
}

function buildSpec(seed: number, index: number, fixedWidth?: number, fixedHeight?: number): ImageSpec {
  const rng = new Rng(imageSeed(seed, index));
  for (let tries = 0; ; tries++) {
    const width = fixedWidth ?? rng.int(320, 800);
    const height = fixedHeight ?? Math.min(600, Math.max(240, Math.round(width * (0.62 + rng.float() * 0.26))));
    const shapes = layout(rng, width, height);
    const q = shapes.length >= 2 ? chooseQuestion(rng, shapes, width, height) : null;
    if (!q) {
      // Two boxes that tie on every comparison are rare; a fresh layout settles it.
      if (tries > 50) throw new Error(`synthetic corpus: could not lay out image ${index} at ${width}x${height}`);
      continue;
    }
    const id = imageId(index);
    const withProgram = (index + 1) % 5 === 0;
    return {
      id,
      file: `images/${id}.png`,
      width,
      height,
      shapes,
      svg: buildSvg(rng, width, height, shapes),
      question: q.question,
      answer: q.answer,
      questionType: q.type,
      pair: [q.a, q.b],
      program: withProgram ? buildProgram(q) : null,
      noiseSeed: rng.int(0, 0xffffffff),
    };
  }
}

const NOISE_AMPLITUDE = 3;
// 2x2 noise cells: per-pixel noise tripled the PNG size (~200 KB at 640x480) for no gain.
const NOISE_CELL = 2;

/**
 * Faint grey noise on background pixels only, so detectors cannot key on a perfectly flat
 * field while shape pixels keep their exact fill colour. Background is every channel >= 200;
 * every fill has a channel far below that, so shapes (and most of their edges) are untouched.
 */
function addBackgroundNoise(rgb: Buffer, width: number, height: number, seed: number): void {
  const rand = mulberry32(seed);
  const cols = Math.ceil(width / NOISE_CELL);
  const cells = new Int8Array(cols * Math.ceil(height / NOISE_CELL));
  for (let c = 0; c < cells.length; c++) cells[c] = ((rand() * (2 * NOISE_AMPLITUDE + 1)) | 0) - NOISE_AMPLITUDE;
  const clamp = (v: number) => (v > 255 ? 255 : v);
  for (let y = 0; y < height; y++) {
    const rowCells = ((y / NOISE_CELL) | 0) * cols;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      if (rgb[i] < 200 || rgb[i + 1] < 200 || rgb[i + 2] < 200) continue;
      const d = cells[rowCells + ((x / NOISE_CELL) | 0)];
      rgb[i] = clamp(rgb[i] + d);
      rgb[i + 1] = clamp(rgb[i + 1] + d);
      rgb[i + 2] = clamp(rgb[i + 2] + d);
    }
  }
}

async function renderPng(spec: ImageSpec): Promise<Buffer> {
  const { data, info } = await sharp(Buffer.from(spec.svg), { density: 72 })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`synthetic corpus: expected RGB raster, got ${info.channels} channels`);
  addBackgroundNoise(data, info.width, info.height, spec.noiseSeed);
  // Explicit PNG settings (and no metadata, sharp's default) keep output bytes reproducible.
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .png({ compressionLevel: 6, adaptiveFiltering: true, palette: false })
    .toBuffer();
}

function checkOptions(opts: SyntheticCorpusOptions): void {
  if (!opts.outDir) throw new ConfigError('synthetic corpus: outDir is required');
  if (!Number.isSafeInteger(opts.count) || opts.count < 0) throw new ConfigError(`synthetic corpus: count must be a non-negative integer, got ${opts.count}`);
  if (!Number.isSafeInteger(opts.seed)) throw new ConfigError(`synthetic corpus: seed must be an integer, got ${opts.seed}`);
  for (const [name, v, min] of [['width', opts.width, 96], ['height', opts.height, 96]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > 8192)) {
      throw new ConfigError(`synthetic corpus: ${name} must be an integer in ${min}..8192, got ${v}`);
    }
  }
}

/**
 * Renders `count` images with 2..5 coloured shapes each and one spatial question per image,
 * writing `images/<id>.png`, `corpus.jsonl` (the image-query events) and `ground-truth.jsonl`
 * (boxes and answers) under `outDir`. The same seed gives byte-identical files.
 */
export async function generateSyntheticCorpus(opts: SyntheticCorpusOptions): Promise<SyntheticCorpusResult> {
  checkOptions(opts);
  const outDir = path.resolve(opts.outDir);
  await mkdir(path.join(outDir, 'images'), { recursive: true });

  const total = opts.count;
  const seedText = String(opts.seed);
  const corpusLines: string[] = new Array(total);
  const truthLines: string[] = new Array(total);
  let next = 0;
  let done = 0;
  let failed = false;

  const worker = async (): Promise<void> => {
    while (!failed && next < total) {
      const index = next++;
      try {
        const spec = buildSpec(opts.seed, index, opts.width, opts.height);
        await writeFile(path.join(outDir, spec.file), await renderPng(spec));
        const event: Record<string, unknown> = { id: spec.id, image: spec.file, question: spec.question };
        if (spec.program) event.program = spec.program;
        else event.phrases = spec.pair.map((s) => s.category);
        event.metadata = { corpus: 'synthetic', seed: seedText };
        corpusLines[index] = JSON.stringify(event);
        const truth: GroundTruthRecord = {
          id: spec.id,
          image: spec.file,
          width: spec.width,
          height: spec.height,
          objects: spec.shapes.map((s) => ({ category: s.category, bbox: s.bbox })),
          question: spec.question,
          answer: spec.answer,
          question_type: spec.questionType,
        };
        truthLines[index] = JSON.stringify(truth);
      } catch (err) {
        failed = true;
        throw err;
      }
      done++;
      opts.onProgress?.(done, total);
    }
  };
  // Let in-flight renders settle before failing, so no write lands after we have returned.
  const results = await Promise.allSettled(Array.from({ length: Math.min(RENDER_CONCURRENCY, Math.max(total, 1)) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;

  const corpusFile = path.join(outDir, 'corpus.jsonl');
  const groundTruthFile = path.join(outDir, 'ground-truth.jsonl');
  const toJsonl = (lines: string[]) => (lines.length ? lines.join('\n') + '\n' : '');
  // Lines are indexed by image, so the files are in id order however renders interleave.
  await writeFile(corpusFile, toJsonl(corpusLines));
  await writeFile(groundTruthFile, toJsonl(truthLines));
  return { corpusFile, groundTruthFile, count: total };
}
