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
import { buildProgram, chooseCountQuestion, chooseQuestion, questionPhrases, type Question, type QuestionType } from './synthetic-questions';
import { Rng, imageSeed, mulberry32 } from './synthetic-random';
import { buildSvg, layout, type BBox, type PlacedShape } from './synthetic-scene';

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
  /** A reference program (plan + code) that answers the question with gd_detect. */
  program: string;
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

interface ImageSpec {
  id: string;
  file: string;
  width: number;
  height: number;
  shapes: PlacedShape[];
  svg: string;
  question: Question;
  /** The corpus event carries it on every 5th image (the others carry the phrases). */
  eventProgram: boolean;
  noiseSeed: number;
}

function imageId(index: number): string {
  return `syn-${String(index + 1).padStart(6, '0')}`;
}

// Salt of the per-image stream that picks counting questions (ASCII "cnt?").
const COUNT_STREAM = 0x636e743f;

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
    // Counting questions come from a stream of their own: the main stream's draws (and so
    // every image's pixels) stay as they were before counting questions existed.
    const count = chooseCountQuestion(new Rng(imageSeed(imageSeed(seed, index), COUNT_STREAM)), shapes);
    return {
      id,
      file: `images/${id}.png`,
      width,
      height,
      shapes,
      svg: buildSvg(rng, width, height, shapes),
      question: count ?? q,
      eventProgram: (index + 1) % 5 === 0,
      noiseSeed: rng.int(0, 0xffffffff),
    };
  }
}

function truthOf(spec: ImageSpec): GroundTruthRecord {
  const q = spec.question;
  return {
    id: spec.id,
    image: spec.file,
    width: spec.width,
    height: spec.height,
    objects: spec.shapes.map((s) => ({ category: s.category, bbox: s.bbox })),
    question: q.question,
    answer: q.answer,
    question_type: q.type,
    program: buildProgram(q),
  };
}

/** Image `index`'s ground-truth record as generateSyntheticCorpus writes it, without rendering it. */
export function syntheticTruth(seed: number, index: number, size: { width?: number; height?: number } = {}): GroundTruthRecord {
  return truthOf(buildSpec(seed, index, size.width, size.height));
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
  const { data, info } = await sharp(Buffer.from(spec.svg), { density: 72 }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
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
  for (const [name, v, min] of [
    ['width', opts.width, 96],
    ['height', opts.height, 96],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > 8192)) {
      throw new ConfigError(`synthetic corpus: ${name} must be an integer in ${min}..8192, got ${v}`);
    }
  }
}

/**
 * Renders `count` images with 2..5 coloured shapes each and one question per image (spatial,
 * or for about a quarter of them how many objects of a shape there are),
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
        const truth = truthOf(spec);
        const event: Record<string, unknown> = { id: spec.id, image: spec.file, question: truth.question };
        if (spec.eventProgram) event.program = truth.program;
        else event.phrases = questionPhrases(spec.question);
        event.metadata = { corpus: 'synthetic', seed: seedText };
        corpusLines[index] = JSON.stringify(event);
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
