// The merged training set: one record per image from the per-query shards of every partition,
// the union of their boxes without exact duplicates, byte-identical on every rebuild, and a
// dataset.json the loader check accepts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../core/logger';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { imageIntakeConfig } from '../../models/images/image-intake';
import { EmbeddedRuntime } from '../../runtime/embedded/embedded-runtime';
import type { PseudoLabel } from '../../schemas/generated/types';
import { pseudoLabelsFromCorpus } from '../../test/fixtures/pseudo-labels';
import { DEFAULT_TOPIC_NAMES as T } from '../../topology/topics';
import { valorTopology } from '../../topology/valor-topology';
import { runEmbeddedSink } from './embedded-sink';
import { FileLabelRegistry, type LabelRegistry } from './label-registry';
import { OdvgFormat } from './odvg-format';
import { LabelMapBehindError, MERGED_FILE, OdvgMerger } from './odvg-merge';
import { ShardCorruptionError } from './shard-files';
import { LocalFileStorage } from './shard-storage';
import { FileHumanVerdictLog, newVerdict } from '../review/human-verdicts';

const ROOT = path.join(__dirname, '..', '..');
const loaderCheck = (dataset: string) =>
  JSON.parse(execFileSync('python3', [path.join(ROOT, 'test', 'fixtures', 'odvg_loader_check.py'), dataset], { encoding: 'utf8' }));
const box = (label: string, x1: number, y1: number, x2: number, y2: number) => ({ x1, y1, x2, y2, label, score: 0.9 });
type Line = { filename: string; width: number; height: number; detection?: { instances: Array<{ bbox: number[]; label: number; category: string }> } };

describe('the merged ODVG training set', () => {
  let work: string;
  let base: PseudoLabel[];
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-odvg-merge-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(work, 'corpus'), count: 4, seed: 13, width: 320, height: 240 });
    base = pseudoLabelsFromCorpus(corpus.groundTruthFile, 4);
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  const query = (image: number, id: string, accepted: PseudoLabel['accepted']): PseudoLabel => ({
    ...base[image]!,
    id,
    queryId: id,
    proposalsId: id,
    accepted,
  });
  // [partition, pseudo-label]: image 0 is queried three times, one query per partition, with
  // an exact duplicate across queries, one that only rounds to it, and a box 1 px off.
  const records = (): Array<[number, PseudoLabel]> => [
    [0, query(0, 'q-red', [box('Red Circle', 10, 10, 40, 40), box('red circle', 50, 50, 80, 80)])],
    [1, query(0, 'q-blue', [box('blue square', 5, 5, 30, 30), box('red-circle', 10, 10, 40, 40), box('red circle', 10.4, 9.6, 40, 40)])],
    [2, query(0, 'q-red-2', [box('red circle', 10, 10, 40, 40), box('red circle', 11, 10, 40, 40)])],
    [1, query(1, 'q-one', [box('green triangle', 20, 20, 60, 70)])],
    // image 2: all rejected for one query, a box for another -> not background-only
    [0, query(2, 'q-neg-2', [])],
    [1, query(2, 'q-pos-2', [box('blue square', 30, 30, 90, 90)])],
    // image 3: all rejected for both of its queries -> one background-only record
    [0, query(3, 'q-neg-3a', [])],
    [2, query(3, 'q-neg-3b', [])],
  ];

  const sink = async (dir: string, mode: 'od' | 'vg' = 'od') => {
    const rt = new EmbeddedRuntime(valorTopology({ partitions: 3 }), { only: [] });
    await rt.start();
    const serde = rt.serdes.for<PseudoLabel>(T.pseudoLabels);
    for (const [p, v] of records()) await rt.produceRaw(T.pseudoLabels, v.queryId, await serde.encode(v), p);
    const storage = new LocalFileStorage(dir);
    const registry = await FileLabelRegistry.open(path.join(dir, '..', `${path.basename(dir)}-labels.log`));
    const format = new OdvgFormat({
      storage,
      rootPath: dir,
      shardDir: 'shards',
      labels: registry,
      images: imageIntakeConfig.parse({ allowedRoots: [work] }),
      mode,
      keepNegativeOnly: true,
    });
    // One record per shard: the merge folds many shards, in the order they close.
    const r = await runEmbeddedSink({
      runtime: rt,
      topic: T.pseudoLabels,
      storage,
      shardDir: 'shards',
      format,
      rotation: { maxRecords: 1 },
      logger: silentLogger,
    });
    await format.onShardsClosed();
    return { r, format, storage };
  };
  const merged = (dir: string): Line[] =>
    fs
      .readFileSync(path.join(dir, MERGED_FILE), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
  const shardLines = (dir: string) =>
    fs
      .readdirSync(path.join(dir, 'shards'))
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) =>
        fs
          .readFileSync(path.join(dir, 'shards', f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => ({ partition: Number(f.split('+')[1]), line: JSON.parse(l) as Line })),
      );

  it('writes one record per image with the union of every query’s boxes, without exact duplicates', async () => {
    const dir = path.join(work, 'od');
    const { r, format } = await sink(dir);
    expect(r).toMatchObject({ written: 8, duplicates: 0, deadLettered: 0 });
    // The premise: image 0's three per-query lines sit in three partitions' shards.
    const image0 = shardLines(dir).filter((s) => s.line.filename.includes(base[0]!.image.sha256!));
    expect(image0.map((s) => s.partition).sort()).toEqual([0, 1, 2]);

    const map = JSON.parse(fs.readFileSync(path.join(dir, 'label_map.json'), 'utf8')) as Record<string, string>;
    const id = (c: string) => Number(Object.keys(map).find((k) => map[k] === c));
    const lines = merged(dir);
    expect(lines).toHaveLength(4);
    expect(lines.map((l) => l.filename)).toEqual([...lines.map((l) => l.filename)].sort());
    expect(new Set(lines.map((l) => l.filename)).size).toBe(4);
    const rec = lines.find((l) => l.filename === image0[0]!.line.filename)!;
    expect(rec).toMatchObject({ width: 320, height: 240 });
    expect(rec.detection!.instances).toEqual([
      { bbox: [5, 5, 30, 30], label: id('blue square'), category: 'blue square' },
      { bbox: [10, 10, 40, 40], label: id('red circle'), category: 'red circle' },
      { bbox: [11, 10, 40, 40], label: id('red circle'), category: 'red circle' },
      { bbox: [50, 50, 80, 80], label: id('red circle'), category: 'red circle' },
    ]);
    // 7 boxes on image 0, 4 distinct; the other images have no duplicates.
    expect(format.lastMerge).toEqual({
      records: 8,
      images: 4,
      instances: 6,
      duplicatesRemoved: 3,
      backgroundOnly: 1,
      otherMode: 0,
      shards: 8,
      humanVerdicts: 0,
    });

    const dataset = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'));
    expect(dataset.train).toEqual([{ root: dir, anno: path.join(dir, MERGED_FILE), label_map: path.join(dir, 'label_map.json'), dataset_mode: 'odvg' }]);
    expect(loaderCheck(path.join(dir, 'dataset.json'))).toMatchObject({ ok: true, shards: 1, records: 4, boxes: 6, images: 4 });
  });

  it('keeps a background-only record only for an image no query found anything on', async () => {
    const dir = path.join(work, 'od');
    const byFile = new Map(merged(dir).map((l) => [l.filename, l.detection!.instances]));
    const file = (i: number) => [...byFile.keys()].find((f) => f.includes(base[i]!.image.sha256!))!;
    expect(byFile.get(file(2))!.map((i) => i.bbox)).toEqual([[30, 30, 90, 90]]);
    expect(byFile.get(file(3))).toEqual([]);
  });

  it('is byte-identical on every rebuild, whether folded shard by shard or from scratch', async () => {
    const dir = path.join(work, 'od');
    const sinkWritten = fs.readFileSync(path.join(dir, MERGED_FILE));
    const storage = new LocalFileStorage(dir);
    const labels = JSON.parse(fs.readFileSync(path.join(dir, 'label_map.json'), 'utf8')) as Record<string, string>;
    const again = async (out: string) => {
      const m = new OdvgMerger(storage, { shardDir: 'shards', out });
      expect(await m.update()).toBe(8);
      return m.write(Object.values(labels));
    };
    const a = await again('merged/a.jsonl');
    const b = await again('merged/b.jsonl');
    expect(a).toEqual(b);
    expect(fs.readFileSync(path.join(dir, 'merged/a.jsonl'))).toEqual(sinkWritten);
    expect(fs.readFileSync(path.join(dir, 'merged/b.jsonl'))).toEqual(sinkWritten);
  });

  it('merges VG regions per image, with the caption built as the sink builds it, and no empty regions', async () => {
    const dir = path.join(work, 'vg');
    const { format } = await sink(dir, 'vg');
    const lines = merged(dir) as Array<Line & { grounding: { caption: string; regions: Array<{ bbox: number[]; phrase: string }> } }>;
    expect(lines).toHaveLength(3); // image 3 has no region at all
    const rec = lines.find((l) => l.filename.includes(base[0]!.image.sha256!))!;
    expect(rec.grounding).toEqual({
      caption: 'blue square . red circle .',
      regions: [
        { bbox: [5, 5, 30, 30], phrase: 'blue square' },
        { bbox: [10, 10, 40, 40], phrase: 'red circle' },
        { bbox: [11, 10, 40, 40], phrase: 'red circle' },
        { bbox: [50, 50, 80, 80], phrase: 'red circle' },
      ],
    });
    expect(format.lastMerge).toMatchObject({ images: 3, instances: 6, duplicatesRemoved: 3, backgroundOnly: 0 });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8')).train[0].label_map).toBeNull();
    expect(loaderCheck(path.join(dir, 'dataset.json'))).toMatchObject({ ok: true, records: 3, boxes: 6 });
  });

  it('catches up with a label log another instance extended before writing ids the map lacks', async () => {
    const dir = path.join(work, 'lagging');
    fs.cpSync(path.join(work, 'od'), dir, { recursive: true });
    const real = await FileLabelRegistry.open(path.join(work, 'od-labels.log'));
    let asked: string[] | null = null;
    // Knows only the first category until idsFor() reads the log, as a Kafka tail behind
    // another instance's writes would.
    const lagging: LabelRegistry = {
      idsFor: async (c) => ((asked = c), real.idsFor(c)),
      labels: () => (asked ? real.labels() : real.labels().slice(0, 1)),
      close: () => real.close(),
    };
    const storage = new LocalFileStorage(dir);
    const images = imageIntakeConfig.parse({ allowedRoots: [work] });
    const format = new OdvgFormat({ storage, rootPath: dir, shardDir: 'shards', labels: lagging, images, mode: 'od', keepNegativeOnly: true });
    await format.onShardsClosed();
    await format.close();
    expect(asked).toEqual(['blue square', 'green triangle']);
    expect(fs.readFileSync(path.join(dir, 'label_map.json'), 'utf8')).toBe(fs.readFileSync(path.join(work, 'od', 'label_map.json'), 'utf8'));
    expect(fs.readFileSync(path.join(dir, MERGED_FILE))).toEqual(fs.readFileSync(path.join(work, 'od', MERGED_FILE)));
    expect(loaderCheck(path.join(dir, 'dataset.json'))).toMatchObject({ ok: true, records: 4 });
  });

  it('applies people’s verdicts over the verifier’s, each once, and a rebuild (as after a replay) keeps them', async () => {
    const dir = path.join(work, 'od');
    const storage = new LocalFileStorage(dir);
    const labels = Object.values(JSON.parse(fs.readFileSync(path.join(dir, 'label_map.json'), 'utf8')) as Record<string, string>);
    const sha = base[0]!.image.sha256!;
    const log = new FileHumanVerdictLog(fs.mkdtempSync(path.join(work, 'hv-')));
    const v = (action: 'REJECT' | 'ADD' | 'RELABEL', category: string, b: [number, number, number, number], at: number, newLabel: string | null = null) =>
      newVerdict(
        {
          reviewer: 'ann',
          action,
          imageSha256: sha,
          filename: null,
          imageWidth: 320,
          imageHeight: 240,
          box: { x1: b[0], y1: b[1], x2: b[2], y2: b[3], category },
          newLabel,
          vlmDecision: action === 'ADD' ? 'NONE' : 'ACCEPTED',
          rejectedAt: null,
          pseudoLabelIds: [],
          verifierVersions: [],
          audit: false,
        },
        at,
      );
    const reject = v('REJECT', 'red circle', [50, 50, 80, 80], 1);
    await log.append(reject);
    await log.append(reject); // the same verdict delivered twice
    await log.append(v('ADD', 'green triangle', [100, 100, 150, 150], 2));
    await log.append(v('RELABEL', 'blue square', [5, 5, 30, 30], 3, 'green triangle'));
    const rebuild = async (out: string) => {
      const m = new OdvgMerger(storage, { shardDir: 'shards', out, verdicts: () => log.all() });
      await m.update();
      return m.write(labels);
    };
    const counts = await rebuild('merged/h1.jsonl');
    expect(counts.humanVerdicts).toBe(3);
    const rec = fs
      .readFileSync(path.join(dir, 'merged/h1.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((l) => l.filename.includes(sha));
    expect(rec.detection.instances.map((i: { category: string; bbox: number[] }) => `${i.category} ${i.bbox.join(',')}`)).toEqual([
      'green triangle 5,5,30,30',
      'green triangle 100,100,150,150',
      'red circle 10,10,40,40',
      'red circle 11,10,40,40',
    ]);
    expect(rec.valor.human.map((h: { action: string }) => h.action)).toEqual(['REJECT', 'ADD', 'RELABEL']);
    // Folding every shard again from scratch (what a replay's new lines lead to) gives the same bytes.
    await rebuild('merged/h2.jsonl');
    expect(fs.readFileSync(path.join(dir, 'merged/h2.jsonl'))).toEqual(fs.readFileSync(path.join(dir, 'merged/h1.jsonl')));
    expect(loaderCheck(path.join(dir, 'dataset.json'))).toMatchObject({ ok: true });
  });

  it('refuses a label map that names an id differently, and a shard changed after it was published', async () => {
    const dir = path.join(work, 'od');
    const storage = new LocalFileStorage(dir);
    const m = new OdvgMerger(storage, { shardDir: 'shards', out: 'merged/x.jsonl' });
    await m.update();
    const labels = Object.values(JSON.parse(fs.readFileSync(path.join(dir, 'label_map.json'), 'utf8')) as Record<string, string>);
    await expect(m.write(labels.slice(0, 1))).rejects.toBeInstanceOf(LabelMapBehindError);
    await expect(m.write([...labels].reverse())).rejects.toThrow(/which the label map names/);

    const shard = fs.readdirSync(path.join(dir, 'shards')).find((f) => f.endsWith('.jsonl'))!;
    const file = path.join(dir, 'shards', shard);
    const bytes = fs.readFileSync(file);
    bytes[bytes.indexOf('"width":320')! + 9] = '4'.charCodeAt(0); // same size, other content
    fs.writeFileSync(file, bytes);
    await expect(new OdvgMerger(storage, { shardDir: 'shards' }).update()).rejects.toThrow(ShardCorruptionError);
    await expect(new OdvgMerger(storage, { shardDir: 'shards' }).update()).rejects.toThrow(/changed after it was published/);
  });
});
