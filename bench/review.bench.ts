// The review server on a large training set: a dataset directory of 100,000 merged records
// (written straight in the merged format, no pipeline; the records reuse a few real images,
// hard-linked under each record's content address), then
//  - the server's start time (it reads the merged set and builds its index),
//  - the time to the first page of the grid (GET /api/records, 48 cards) after start,
//  - the time of filtered pages (category, status, stage, version, text search),
//  - the process's RSS, JS heap and external memory (the index is typed arrays) after the
//    index is built, against before.
// Prints `name: value unit` lines.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import sharp from 'sharp';
import { startReviewServer } from '../connectors/review/review-server';
import { labelMapJson, type ReviewMeta, type ReviewNegative } from '../connectors/sinks/odvg';
import { DATASET_FILE, LABEL_MAP_FILE, trainingSetJson } from '../connectors/sinks/odvg-format';
import { MERGED_FILE } from '../connectors/sinks/odvg-merge';

const RECORDS = Number(process.env.BENCH_REVIEW_RECORDS ?? 100_000);
const PAGE = 48;
const CATEGORIES = ['red circle', 'blue square', 'green triangle', 'yellow star', 'cat', 'dog', 'person', 'bicycle', 'car', 'mug', 'laptop', 'chair'];
const STAGES: ReviewNegative['stage'][] = ['COARSE', 'CROP', 'FINAL'];
const VERSIONS = ['verifier-v1', 'verifier-v2'];
const SIZES: Array<[number, number]> = [
  [640, 480],
  [800, 600],
  [1024, 768],
  [500, 375],
];

// Deterministic: the same figures for the same set on every run.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A few real PNGs (the page decodes them); returns their paths and sizes. */
async function realImages(dir: string): Promise<Array<{ file: string; width: number; height: number }>> {
  fs.mkdirSync(dir, { recursive: true });
  return Promise.all(
    SIZES.map(async ([width, height], i) => {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><circle cx="${width / 3}" cy="${height / 2}" r="${height / 5}" fill="#c33"/><rect x="${width / 2}" y="${height / 4}" width="${width / 4}" height="${height / 3}" fill="#33c"/></svg>`;
      const file = path.join(dir, `real-${i}.png`);
      await sharp({ create: { width, height, channels: 3, background: { r: 40 + 50 * i, g: 120, b: 90 } } })
        .composite([{ input: Buffer.from(svg) }])
        .png()
        .toFile(file);
      return { file, width, height };
    }),
  );
}

const box = (r: () => number, w: number, h: number): [number, number, number, number] => {
  const x1 = Math.floor(r() * (w - 40));
  const y1 = Math.floor(r() * (h - 40));
  return [x1, y1, Math.min(w - 1, x1 + 20 + Math.floor(r() * (w - x1 - 20))), Math.min(h - 1, y1 + 20 + Math.floor(r() * (h - y1 - 20)))];
};

/**
 * Writes the dataset: label map, dataset.json, merged set sorted by filename (as the merge
 * writes it), and one hard link per record to one of the real images. Streams the file so
 * the generator holds no copy of the set when the server's memory is measured.
 */
async function writeDataset(root: string): Promise<{ bytes: number; boxes: number; negatives: number }> {
  const real = await realImages(path.join(root, 'real'));
  const shas = Array.from({ length: RECORDS }, (_, i) => createHash('sha256').update(`bench-review-${i}`).digest('hex')).sort();
  fs.mkdirSync(path.join(root, 'merged'), { recursive: true });
  for (let i = 0; i < 256; i++) fs.mkdirSync(path.join(root, 'images', i.toString(16).padStart(2, '0')), { recursive: true });
  fs.writeFileSync(path.join(root, LABEL_MAP_FILE), labelMapJson(CATEGORIES));
  fs.writeFileSync(path.join(root, DATASET_FILE), trainingSetJson(root, MERGED_FILE, 'od'));
  const fd = fs.openSync(path.join(root, MERGED_FILE), 'w');
  const r = rng(7);
  let part = '';
  let bytes = 0;
  let boxes = 0;
  let negatives = 0;
  shas.forEach((sha, i) => {
    const img = real[i % real.length]!;
    const filename = `images/${sha.slice(0, 2)}/${sha}.png`;
    fs.linkSync(img.file, path.join(root, filename));
    const instances = Array.from({ length: Math.floor(r() * 5) }, () => {
      const label = Math.floor(r() * CATEGORIES.length);
      return { bbox: box(r, img.width, img.height), label, category: CATEGORIES[label]! };
    });
    const negs: ReviewNegative[] = Array.from({ length: Math.floor(r() * 3) }, () => ({
      bbox: box(r, img.width, img.height),
      category: CATEGORIES[Math.floor(r() * CATEGORIES.length)]!,
      stage: STAGES[Math.floor(r() * STAGES.length)]!,
      reason: r() < 0.5 ? 'only part of the object is in the box' : null,
    }));
    boxes += instances.length;
    negatives += negs.length;
    const valor: ReviewMeta = {
      pseudoLabels: [`pl-${i}`],
      queries: [`q-${i}`],
      verifierVersions: [VERSIONS[i % VERSIONS.length]!],
      negatives: negs,
    };
    part += JSON.stringify({ filename, height: img.height, width: img.width, detection: { instances }, valor }) + '\n';
    if (part.length > 1 << 20) {
      bytes += fs.writeSync(fd, part);
      part = '';
    }
  });
  bytes += fs.writeSync(fd, part);
  fs.closeSync(fd);
  return { bytes, boxes, negatives };
}

// A real collection before each memory reading, so the figures are live memory, not garbage.
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function memory(): NodeJS.MemoryUsage {
  gc();
  gc();
  return process.memoryUsage();
}
const mb = (n: number) => (n / 2 ** 20).toFixed(1);

async function timedGet(base: URL, pathAndQuery: string): Promise<{ ms: number; body: { total?: number; items?: unknown[] } }> {
  const url = new URL(pathAndQuery, base);
  // The server's URL may carry its token as a query parameter; keep it on every call.
  for (const [k, v] of base.searchParams) if (!url.searchParams.has(k)) url.searchParams.set(k, v);
  const t0 = performance.now();
  const res = await fetch(url);
  const body = (await res.json()) as { total?: number; items?: unknown[] };
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`GET ${pathAndQuery}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return { ms, body };
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-review-'));
  try {
    const t0 = performance.now();
    const d = await writeDataset(root);
    console.log(
      `review_dataset: ${RECORDS} records, ${d.boxes} boxes, ${d.negatives} negatives, ${mb(d.bytes)} MB merged set (written in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );

    const before = memory();
    const t1 = performance.now();
    const server = await startReviewServer({ datasetDir: root, host: '127.0.0.1', port: 0, reviewer: 'bench' });
    const startMs = performance.now() - t1;
    try {
      const base = new URL(server.url);
      const first = await timedGet(base, `/api/records?offset=0&limit=${PAGE}`);
      if (first.body.total !== RECORDS || first.body.items?.length !== PAGE)
        throw new Error(`first page: total ${first.body.total}, ${first.body.items?.length} items; expected ${RECORDS} and ${PAGE}`);
      const after = memory();
      console.log(`review_server_start: ${startMs.toFixed(0)} ms (index of ${RECORDS} records)`);
      console.log(`review_first_page: ${first.ms.toFixed(1)} ms (${PAGE} records, right after start)`);

      const filters: Array<[string, string]> = [
        ['category', `category=${encodeURIComponent('green triangle')}`],
        ['status_rejected', 'status=rejected'],
        ['stage_crop', 'stage=CROP'],
        ['version', `version=${VERSIONS[1]}`],
        ['category_status', `category=cat&status=rejected`],
        ['text', `q=${encodeURIComponent('part of')}`],
        ['last_page', `offset=${RECORDS - PAGE}`],
        ['audit', 'audit=1&seed=42'],
      ];
      // The first query of a filter scans the index (then it is cached); the median of 4 more is the cached page read.
      for (const [name, q] of filters) {
        const first = await timedGet(base, `/api/records?limit=${PAGE}&${q}`);
        const again: number[] = [];
        for (let i = 0; i < 4; i++) again.push((await timedGet(base, `/api/records?limit=${PAGE}&${q}`)).ms);
        again.sort((a, b) => a - b);
        console.log(
          `review_page_${name}: ${first.ms.toFixed(1)} ms first, ${((again[1]! + again[2]!) / 2).toFixed(1)} ms median of 4 repeats (${q}; ${first.body.total} matching)`,
        );
      }
      const summary = await timedGet(base, '/api/summary');
      console.log(`review_summary: ${summary.ms.toFixed(1)} ms`);
      const agreement = await timedGet(base, '/api/agreement');
      console.log(`review_agreement: ${agreement.ms.toFixed(1)} ms`);
      console.log(`review_rss: ${mb(after.rss)} MB after the index (${mb(before.rss)} MB before, +${mb(after.rss - before.rss)} MB)`);
      console.log(`review_heap_used: ${mb(after.heapUsed)} MB after the index (${mb(before.heapUsed)} MB before, +${mb(after.heapUsed - before.heapUsed)} MB)`);
      // The index is typed arrays: their memory is outside the JS heap (`external`, which includes array buffers).
      console.log(`review_external: ${mb(after.external)} MB after the index (${mb(before.external)} MB before, +${mb(after.external - before.external)} MB)`);
      const perRecord = (after.heapUsed + after.external - before.heapUsed - before.external) / RECORDS;
      console.log(`review_bytes_per_record: ${perRecord.toFixed(0)} B (heap + external)`);
    } finally {
      await server.close();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
