// A small real ODVG dataset for the review server's tests (and the page's browser test): a
// synthetic corpus's images, pseudo-labels written by the real embedded ODVG sink and merged
// into merged/train.odvg.jsonl exactly as `sink odvg` does. What it holds, by design:
//   - 12 images, 1-2 queries each (one query per category), so some records merge two lines;
//   - hard negatives at all three stages with reasons ("too loose", "only a tail", ...);
//   - two verifier versions (even images v1, odd v2);
//   - every 4th image with all its boxes rejected (a background-only record);
//   - on image 0 a query for 'purple zebra', a category only rejected boxes have (no label id).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { sha256Hex } from '../../core/ids';
import { silentLogger } from '../../core/logger';
import { readGroundTruth } from '../../evaluation/label-quality';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { imageIntakeConfig } from '../../models/images/image-intake';
import { EmbeddedRuntime } from '../../runtime/embedded/embedded-runtime';
import type { PseudoLabel } from '../../schemas/generated/types';
import { DEFAULT_TOPIC_NAMES as T } from '../../topology/topics';
import { valorTopology } from '../../topology/valor-topology';
import { runEmbeddedSink } from '../sinks/embedded-sink';
import { FileLabelRegistry } from '../sinks/label-registry';
import type { OdvgRecord } from '../sinks/odvg';
import { OdvgFormat } from '../sinks/odvg-format';
import { MERGED_FILE } from '../sinks/odvg-merge';
import { LocalFileStorage } from '../sinks/shard-storage';

export const REVIEW_VERSIONS = ['openai-responses:gpt-5-mini:v1', 'openai-responses:gpt-5-mini:v2'];

type Box = PseudoLabel['accepted'][number];
const box = (label: string, b: number[], w: number, h: number, score = 0.9): Box => ({
  x1: Math.max(0, Math.min(w - 1, b[0]!)),
  y1: Math.max(0, Math.min(h - 1, b[1]!)),
  x2: Math.max(0, Math.min(w - 1, b[2]!)),
  y2: Math.max(0, Math.min(h - 1, b[3]!)),
  label,
  score,
});

/** The pseudo-labels of the dataset (one per image and category). */
export function reviewPseudoLabels(groundTruthFile: string): PseudoLabel[] {
  const out: PseudoLabel[] = [];
  [...readGroundTruth(groundTruthFile).values()].forEach((t, i) => {
    const sha = sha256Hex(fs.readFileSync(t.imagePath));
    const { width: w, height: h } = t;
    const categories = [...new Set(t.objects.map((o) => o.category))].slice(0, 2);
    const queries: Array<[string, PseudoLabel['accepted'], PseudoLabel['negatives']]> = categories.map((c, k) => {
      const objs = t.objects.filter((o) => o.category === c);
      const negatives: PseudoLabel['negatives'] = objs.flatMap((o, j) => {
        const [x1, y1, x2, y2] = o.bbox;
        const list: PseudoLabel['negatives'] = [
          { box: box(c, [x1 - 12, y1 - 12, x2 + 12, y2 + 12], w, h, 0.4), rejectedAt: 'COARSE', reason: `bad box: too loose around the ${c}` },
        ];
        if ((i + j) % 2 === 0)
          list.push({ box: box(c, [x1, y1, (x1 + x2) / 2, (y1 + y2) / 2], w, h, 0.3), rejectedAt: 'CROP', reason: `only a tail of the ${c}` });
        if ((i + k) % 3 === 0) list.push({ box: box(c, [x1 + 2, y1 + 1, x2 + 2, y2 + 1], w, h, 0.5), rejectedAt: 'FINAL', reason: 'duplicate of box 1' });
        return list;
      });
      const accepted = objs.map((o) => box(c, o.bbox, w, h));
      // Every 4th image: the verifier rejected everything, the true boxes at the last stage.
      if (i % 4 === 3) return [c, [], [...negatives, ...accepted.map((b) => ({ box: b, rejectedAt: 'FINAL' as const, reason: `ambiguous: could be a ${c}` }))]];
      return [c, accepted, negatives];
    });
    if (i === 0)
      queries.push(['purple zebra', [], [{ box: box('purple zebra', [5, 5, 60, 60], w, h, 0.2), rejectedAt: 'COARSE', reason: 'no zebra in the image' }]]);
    queries.forEach(([c, accepted, negatives], k) => {
      const id = `pl-${i}-${k}`;
      out.push({
        id,
        proposalsId: `prop-${i}-${k}`,
        queryId: `${t.id}-${c.replace(/ /g, '-')}`,
        image: { uri: t.imagePath, bytes: null, sha256: sha, width: w, height: h, mediaType: 'image/png' },
        width: w,
        height: h,
        accepted,
        negatives,
        verifierVersion: REVIEW_VERSIONS[i % 2]!,
        usage: { calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 },
        createdAt: 1_700_000_000_000 + i * 10 + k,
        lineage: { parents: [], producedBy: 'review.testkit', producerVersion: '0', versions: {}, source: null },
      });
    });
  });
  return out;
}

/** Writes the dataset under `dir` (`<dir>/odvg`); `records` is the merged file's line count. */
export async function makeReviewDataset(dir: string, opts: { images?: number } = {}): Promise<{ datasetDir: string; records: number }> {
  const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: opts.images ?? 12, seed: 21 });
  const datasetDir = path.join(dir, 'odvg');
  const rt = new EmbeddedRuntime(valorTopology({ partitions: 2 }), { only: [] });
  await rt.start();
  try {
    const serde = rt.serdes.for<PseudoLabel>(T.pseudoLabels);
    const labels = reviewPseudoLabels(corpus.groundTruthFile);
    for (const [n, p] of labels.entries()) await rt.produceRaw(T.pseudoLabels, p.queryId, await serde.encode(p), n % 2);
    const storage = new LocalFileStorage(datasetDir);
    const registry = await FileLabelRegistry.open(path.join(dir, 'labels.log'));
    const format = new OdvgFormat({
      storage,
      rootPath: datasetDir,
      shardDir: 'shards',
      labels: registry,
      images: imageIntakeConfig.parse({ allowedRoots: [path.join(dir, 'corpus')] }),
      mode: 'od',
      keepNegativeOnly: true,
    });
    await runEmbeddedSink({ runtime: rt, topic: T.pseudoLabels, storage, shardDir: 'shards', format, rotation: { maxRecords: 5 }, logger: silentLogger });
    await format.onShardsClosed();
    await format.close();
    await registry.close();
  } finally {
    await rt.close();
  }
  const records = fs.readFileSync(path.join(datasetDir, MERGED_FILE), 'utf8').split('\n').filter(Boolean).length;
  return { datasetDir, records };
}

/**
 * A request with the path and headers sent exactly as given (fetch would normalise `..` and
 * `%2e%2e` away before they reach the server, and sets Host itself).
 */
export function rawRequest(
  base: string,
  rawPath: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method: o.method ?? 'GET', headers: o.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

export const rawGet = (base: string, rawPath: string, headers: Record<string, string> = {}) => rawRequest(base, rawPath, { headers });

/** The merged file's records, parsed. */
export function mergedRecords(datasetDir: string): OdvgRecord[] {
  return fs
    .readFileSync(path.join(datasetDir, MERGED_FILE), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OdvgRecord);
}
