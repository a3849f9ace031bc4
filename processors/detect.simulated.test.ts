// The simulated detector (nodes.detect.kind: simulated) through the real detect node: real
// image intake, lineage, thresholds; boxes from the corpus's ground truth.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { readCorpus } from '../connectors/corpus/corpus-reader';
import { toImageQuery } from '../connectors/corpus/corpus-source';
import { fixedClock } from '../core/clock';
import { labelQuality, readGroundTruth } from '../evaluation/label-quality';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import type { DetectorProposals, ImageQuery } from '../schemas/generated/types';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { valorTopology } from '../topology/valor-topology';

describe('detect with the simulated detector', () => {
  let dir: string;
  let gtFile: string;
  let queries: ImageQuery[];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detect-sim-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 30, seed: 7 });
    gtFile = corpus.groundTruthFile;
    queries = [];
    for await (const item of readCorpus(corpus.corpusFile)) if (item.ok) queries.push(toImageQuery(item.event, 'synthetic', fixedClock(0)));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function run(boxThreshold: number, textThreshold: number, qs = queries) {
    const topology = valorTopology({
      partitions: 2,
      nodeConfig: { detect: { kind: 'simulated', groundTruth: gtFile, boxThreshold, textThreshold, images: { allowedRoots: [dir] } } },
    });
    const driver = new TopologyTestDriver(topology, { only: ['plan', 'detect'] });
    try {
      await driver.pipe('valor.image-queries', qs);
      const proposals = (await driver.readAll<DetectorProposals>('valor.detector-proposals')).map((r) => r.value);
      return { proposals, deadLetters: await driver.deadLetters() };
    } finally {
      await driver.close();
    }
  }

  function quality(proposals: DetectorProposals[]) {
    const truth = readGroundTruth(gtFile);
    return labelQuality(proposals.map((p) => ({ boxes: p.boxes, phrases: p.phrases, truth: truth.get(p.queryId)! })));
  }

  it('scores like a real detector: inference thresholds keep mostly true boxes, mining thresholds keep the junk too', async () => {
    const mining = await run(0.1, 0.1);
    const inference = await run(0.35, 0.25);
    expect(mining.deadLetters).toEqual([]);
    expect(mining.proposals).toHaveLength(queries.length);
    const qm = quality(mining.proposals);
    const qi = quality(inference.proposals);
    // Both find the objects; only the low thresholds carry the loose, chopped and background boxes.
    expect(qm.recall).toBeGreaterThan(0.95);
    expect(qi.recall).toBeGreaterThan(0.9);
    expect(qm.boxes).toBeGreaterThan(qi.boxes * 1.5);
    expect(qm.precision).toBeLessThan(0.6);
    expect(qi.precision).toBeGreaterThan(0.75);
  });

  it('says in every proposal that it is simulated, and is deterministic', async () => {
    const a = await run(0.1, 0.1);
    const b = await run(0.1, 0.1);
    for (const p of a.proposals) {
      expect(p.lineage.versions['detector.kind']).toBe('simulated');
      expect(p.detector.layout).toBe('simulated');
      expect(p.image.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const boxes = (r: typeof a) => Object.fromEntries(r.proposals.map((p) => [p.queryId, p.boxes]));
    expect(boxes(b)).toEqual(boxes(a));
  });

  it('gives an object the same boxes whatever else a query asks for', async () => {
    const q = queries[0]!;
    const truth = readGroundTruth(gtFile).get(q.id)!;
    const cat = truth.objects[0]!.category;
    const other = truth.objects.find((o) => o.category !== cat)?.category ?? 'nothing';
    const { proposals } = await run(0.1, 0.1, [
      { ...q, id: 'q-one', phrases: [cat] },
      { ...q, id: 'q-two', phrases: [cat, other] },
    ]);
    const of = (id: string) =>
      proposals
        .find((p) => p.queryId === id)!
        .boxes.filter((b) => b.label === cat)
        .map((b) => [b.x1, b.y1, b.x2, b.y2]);
    // Background boxes depend on what is asked; the object's own boxes (its tight box first) do not.
    expect(of('q-two')[0]).toEqual(of('q-one')[0]);
    expect(of('q-one').length).toBeGreaterThan(0);
  });

  it('dead-letters an image that is not in its ground truth, naming the ground truth', async () => {
    const stranger = path.join(dir, 'stranger.png');
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } })
      .png()
      .toFile(stranger);
    const q: ImageQuery = { ...queries[0]!, id: 'stranger', image: { ...queries[0]!.image, uri: stranger } };
    const { proposals, deadLetters } = await run(0.1, 0.1, [q]);
    expect(proposals).toEqual([]);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]!.reason).toMatch(/not in the simulated detector's ground truth/);
  });

  it('demands its ground truth in config', async () => {
    const driver = new TopologyTestDriver(valorTopology({ nodeConfig: { detect: { kind: 'simulated' } } }), { only: ['plan', 'detect'] });
    try {
      await expect(driver.pipe('valor.image-queries', queries.slice(0, 1))).rejects.toThrow(/groundTruth/);
    } finally {
      await driver.close();
    }
  });
});
