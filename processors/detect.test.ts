import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { AddressInfo } from 'node:net';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { readCorpus } from '../connectors/corpus/corpus-reader';
import { toImageQuery } from '../connectors/corpus/corpus-source';
import { fixedClock } from '../core/clock';
import { ProcessingError } from '../core/errors';
import { buildCaption } from '../models/detector/caption';
import { GroundingDino } from '../models/detector/grounding-dino';
import { bertTokenizerJson, DetectorTokenizer } from '../models/detector/tokenizer';
import { TEST_VOCAB, testModelSpec, writeTestDetector } from '../models/detector/test-model';
import type { DetectionRequest, DetectorProposals, ImageQuery } from '../schemas/generated/types';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { valorTopology } from '../topology/valor-topology';

jest.setTimeout(120_000);

/** The test model's expected proposals, derived from its spec, not from the detector code. */
function expectedLabels(phrases: string[]): string[] {
  const tok = new DetectorTokenizer(bertTokenizerJson(TEST_VOCAB) as never, '');
  const { caption, parts, labels } = buildCaption(phrases);
  const ids = tok.encode(caption);
  const out: string[] = [];
  // Each part occupies a contiguous token run; the query whose span is exactly that run matches.
  let cursor = 1;
  parts.forEach((part, i) => {
    const n = tok.encode(part).length - 2;
    if (testModelSpec().spans.some((s) => s.start === cursor && s.length === n) && cursor + n <= ids.length) out.push(labels[i]!);
    cursor += n + 1; // skip the "." after the part
  });
  return out.sort();
}

describe('detect node end to end on the embedded runtime', () => {
  let dir: string;
  let model: ReturnType<typeof writeTestDetector>;
  let queries: ImageQuery[];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detect-'));
    model = writeTestDetector(path.join(dir, 'model'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 12, seed: 3 });
    queries = [];
    for await (const item of readCorpus(corpus.corpusFile)) if (item.ok) queries.push(toImageQuery(item.event, 'synthetic', fixedClock(0)));
  });

  const topology = (layout: 'original' | 'huggingface', extra: object = {}) =>
    valorTopology({
      partitions: 2,
      nodeConfig: {
        detect: {
          modelPath: layout === 'original' ? model.original : model.huggingface,
          tokenizerPath: model.tokenizerJson,
          resize: { shortSide: 96, maxSize: 160 },
          batchSize: 4,
          images: { allowedRoots: [dir] },
          ...extra,
        },
      },
    });

  it.each(['original', 'huggingface'] as const)('proposes boxes for every request with lineage (%s layout)', async (layout) => {
    const driver = new TopologyTestDriver(topology(layout), { only: ['plan', 'detect'] });
    await driver.pipe('valor.image-queries', queries);
    const requests = (await driver.readAll<DetectionRequest>('valor.detection-requests')).map((r) => r.value);
    const proposals = (await driver.readAll<DetectorProposals>('valor.detector-proposals')).map((r) => r.value);
    expect(requests.length).toBeGreaterThanOrEqual(queries.length);
    expect(proposals.map((p) => p.requestId).sort()).toEqual(requests.map((r) => r.id).sort());
    expect(await driver.deadLetters()).toEqual([]);
    const spec = testModelSpec();
    for (const p of proposals) {
      const req = requests.find((r) => r.id === p.requestId)!;
      expect(p.boxes.map((b) => b.label).sort()).toEqual(expectedLabels(req.phrases));
      expect(p.lineage.parents).toEqual([req.id, req.queryId]);
      expect(p.lineage.versions['detector.layout']).toBe(layout);
      expect(p.detector.modelSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(p.image.sha256).toMatch(/^[0-9a-f]{64}$/);
      for (const b of p.boxes) {
        // boxes are the spec's normalized boxes scaled to the original image
        const q = spec.spans.find((s) => Math.abs((spec.boxes[s.query * 4]! - spec.boxes[s.query * 4 + 2]! / 2) * p.imageWidth - b.x1) < 1e-3);
        expect(q).toBeDefined();
        expect(b.score).toBeGreaterThan(0.9);
        expect(b.x2).toBeGreaterThan(b.x1);
      }
    }
    expect(proposals.some((p) => p.boxes.length > 0)).toBe(true);
  });

  it('dead-letters bad images and refused sources, and goes on', async () => {
    const server = http.createServer((_, res) => res.end('x'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const good = queries[0]!;
      fs.writeFileSync(path.join(dir, 'truncated.png'), fs.readFileSync(good.image.uri!).subarray(0, 200));
      const mk = (id: string, uri: string): ImageQuery => ({ ...good, id, image: { ...good.image, uri } });
      const driver = new TopologyTestDriver(topology('huggingface'), { only: ['plan', 'detect'] });
      await driver.pipe('valor.image-queries', [
        mk('bad-truncated', path.join(dir, 'truncated.png')),
        mk('bad-outside', '/etc/hostname'),
        mk('bad-loopback', `http://127.0.0.1:${port}/a.png`),
        mk('good', good.image.uri!),
      ]);
      const dls = await driver.deadLetters();
      const reasons = Object.fromEntries(dls.map((d) => [d.source.key?.toString(), d.reason]));
      expect(Object.keys(reasons).sort()).toEqual(['bad-loopback', 'bad-outside', 'bad-truncated']);
      expect(reasons['bad-truncated']).toMatch(/corrupt|truncat/i);
      expect(reasons['bad-outside']).toMatch(/allowed|root/i);
      expect(reasons['bad-loopback']).toMatch(/private|loopback/i);
      expect(dls.every((d) => d.node === 'detect' && d.source.topic === 'valor.detection-requests')).toBe(true);
      const proposals = await driver.readAll<DetectorProposals>('valor.detector-proposals');
      expect(proposals.map((p) => p.value.queryId)).toEqual(['good']);
    } finally {
      server.close();
    }
  });

  it('dead-letters every prepared record of a batch whose inference fails, once, without retries', async () => {
    // Retriable on purpose: inference is still tried once, as per-record preparation is not.
    const detectSpy = jest.spyOn(GroundingDino.prototype, 'detect').mockRejectedValue(new ProcessingError('inference blew up', { retriable: true }));
    try {
      const good = queries[0]!;
      const mk = (id: string, uri: string): ImageQuery => ({ ...good, id, image: { ...good.image, uri } });
      const driver = new TopologyTestDriver(topology('huggingface'), { only: ['plan', 'detect'] });
      await driver.pipe('valor.image-queries', [mk('bad-outside', '/etc/hostname'), mk('good-1', good.image.uri!), mk('good-2', queries[1]!.image.uri!)]);
      const dls = await driver.deadLetters();
      const byKey = Object.fromEntries(dls.map((d) => [d.source.key?.toString(), d]));
      expect(Object.keys(byKey).sort()).toEqual(['bad-outside', 'good-1', 'good-2']);
      expect(byKey['bad-outside']!.reason).toMatch(/allowed|root/i);
      for (const k of ['good-1', 'good-2']) expect(byKey[k]).toMatchObject({ reason: 'inference blew up', attempts: 1, node: 'detect' });
      expect(await driver.readAll('valor.detector-proposals')).toEqual([]);
      // Never called with the refused record; each batch once.
      expect(detectSpy.mock.calls.flatMap(([items]) => items).length).toBe(2);
    } finally {
      detectSpy.mockRestore();
    }
  });

  it('fails start-up on a missing model, naming the setting', async () => {
    const driver = new TopologyTestDriver(topology('original', { modelPath: path.join(dir, 'nope.onnx') }), { only: ['plan', 'detect'] });
    await expect(driver.pipe('valor.image-queries', [queries[0]!])).rejects.toThrow(/nodes\.detect\.modelPath/);
  });
});
