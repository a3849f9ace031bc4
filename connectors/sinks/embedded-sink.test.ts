// The file sinks over the embedded log: ODVG datasets the loader accepts, resume from the
// files, de-duplication of replayed records, VG mode, dead letters, reward shards.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { EmbeddedRuntime } from '../../runtime/embedded/embedded-runtime';
import { silentLogger } from '../../core/logger';
import { imageIntakeConfig } from '../../models/images/image-intake';
import type { DeadLetter, PseudoLabel, RewardGroup } from '../../schemas/generated/types';
import { pseudoLabelsFromCorpus } from '../../test/fixtures/pseudo-labels';
import { DEFAULT_TOPIC_NAMES as T } from '../../topology/topics';
import { valorTopology } from '../../topology/valor-topology';
import { runEmbeddedSink } from './embedded-sink';
import { FileLabelRegistry } from './label-registry';
import { OdvgFormat } from './odvg-format';
import { RewardFormat } from './reward-format';
import { LocalFileStorage } from './shard-storage';

const ROOT = path.join(__dirname, '..', '..');
const loaderCheck = (dataset: string) =>
  JSON.parse(execFileSync('python3', [path.join(ROOT, 'test', 'fixtures', 'odvg_loader_check.py'), dataset], { encoding: 'utf8' }));

describe('file sinks on the embedded log', () => {
  let work: string;
  let labels: PseudoLabel[];
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-sinks-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(work, 'corpus'), count: 12, seed: 6 });
    labels = pseudoLabelsFromCorpus(corpus.groundTruthFile, 120);
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  const odvg = async (dir: string, runtime: EmbeddedRuntime, mode: 'od' | 'vg' = 'od', keepNegativeOnly = true) => {
    const storage = new LocalFileStorage(dir);
    const registry = await FileLabelRegistry.open(path.join(dir, '..', `${path.basename(dir)}-labels.log`));
    const format = new OdvgFormat({
      storage,
      rootPath: dir,
      shardDir: 'shards',
      labels: registry,
      images: imageIntakeConfig.parse({ allowedRoots: [work] }),
      mode,
      keepNegativeOnly,
    });
    const r = await runEmbeddedSink({
      runtime,
      topic: T.pseudoLabels,
      storage,
      shardDir: 'shards',
      format,
      rotation: { maxRecords: 25 },
      logger: silentLogger,
    });
    await format.onShardsClosed();
    return r;
  };
  const runtimeWith = async (values: PseudoLabel[]) => {
    const rt = new EmbeddedRuntime(valorTopology({ partitions: 2 }), { only: [] });
    await rt.produce(
      T.pseudoLabels,
      values.map((v) => ({ key: v.queryId, value: v })),
    );
    return rt;
  };
  const shardLines = (dir: string) =>
    fs
      .readdirSync(path.join(dir, 'shards'))
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) =>
        fs
          .readFileSync(path.join(dir, 'shards', f), 'utf8')
          .split('\n')
          .filter(Boolean),
      );

  it('writes an ODVG dataset the loader accepts, with images stored once each', async () => {
    const dir = path.join(work, 'od');
    const r = await odvg(dir, await runtimeWith(labels));
    expect(r).toMatchObject({ written: 120, duplicates: 0, deadLettered: 0 });
    // The per-query shards hold every record; dataset.json points at the merged set, one record per image.
    expect(shardLines(dir)).toHaveLength(120);
    expect(loaderCheck(path.join(dir, 'dataset.json'))).toMatchObject({ ok: true, shards: 1, records: 12, images: 12 });
    expect(fs.readdirSync(path.join(dir, 'images')).flatMap((d) => fs.readdirSync(path.join(dir, 'images', d)))).toHaveLength(12);
    const map = JSON.parse(fs.readFileSync(path.join(dir, 'label_map.json'), 'utf8'));
    expect(fs.readFileSync(path.join(dir, 'labels.txt'), 'utf8').trim().split('\n')).toEqual(Object.values(map));
  });

  it('resumes from its files: a second run over the same log writes nothing new', async () => {
    const dir = path.join(work, 'resume');
    const rt = await runtimeWith(labels);
    await odvg(dir, rt);
    const before = shardLines(dir).length;
    const again = await odvg(dir, rt);
    expect(again.written + again.duplicates + again.skipped).toBe(0);
    expect(shardLines(dir)).toHaveLength(before);
  });

  it('drops replayed records by their signature', async () => {
    const dir = path.join(work, 'dedup');
    const rt = await runtimeWith(labels);
    await rt.produce(
      T.pseudoLabels,
      labels.slice(0, 30).map((v) => ({ key: v.queryId, value: { ...v, id: `${v.id}-replay` } })),
    );
    const r = await odvg(dir, rt);
    expect(r).toMatchObject({ written: 120, duplicates: 30 });
    expect(shardLines(dir)).toHaveLength(120);
  });

  it('writes grounding records in VG mode and never one with empty regions', async () => {
    const dir = path.join(work, 'vg');
    const negative = { ...labels[0]!, id: 'neg', queryId: 'neg', accepted: [] };
    const r = await odvg(dir, await runtimeWith([...labels.slice(0, 20), negative]), 'vg');
    expect(r).toMatchObject({ written: 20, skipped: 1 });
    for (const l of shardLines(dir)) expect(JSON.parse(l).grounding.regions.length).toBeGreaterThan(0);
    expect(loaderCheck(path.join(dir, 'dataset.json'))).toMatchObject({ ok: true, records: 12 }); // 20 queries on 12 images
  });

  it('keeps or skips negative-only images by setting, and dead-letters a record whose image is gone', async () => {
    const negative = { ...labels[0]!, id: 'neg', queryId: 'neg', accepted: [] };
    const missing = {
      ...labels[1]!,
      id: 'gone',
      queryId: 'gone',
      image: { ...labels[1]!.image, uri: path.join(work, 'corpus', 'nope.png'), sha256: 'a'.repeat(64) },
    };
    const keep = await odvg(path.join(work, 'neg-keep'), await runtimeWith([negative]));
    expect(keep.written).toBe(1);
    const rt = await runtimeWith([negative, missing]);
    const skip = await odvg(path.join(work, 'neg-skip'), rt, 'od', false);
    expect(skip).toMatchObject({ written: 0, skipped: 1, deadLettered: 1 });
    const dead = (await rt.read<DeadLetter>(T.deadLetters)).map((d) => d.value);
    expect(dead).toHaveLength(1);
    expect(dead[0]!).toMatchObject({ node: 'sink.odvg', source: { topic: T.pseudoLabels } });
    expect(dead[0]!.reason).toMatch(/nope\.png/);
  });

  it('writes reward groups with their statistics', async () => {
    const group: RewardGroup = {
      groupId: 'g1',
      questionId: 'q1',
      groupSize: 2,
      partial: false,
      mean: 0.5,
      std: 0.5,
      createdAt: 1,
      members: [
        { rolloutId: 'r1', rewardId: 'w1', total: 1 },
        { rolloutId: 'r2', rewardId: 'w2', total: 0 },
      ],
      lineage: { parents: ['w1', 'w2'], producedBy: 'group', producerVersion: '0', versions: { 'judge.model': 'gemini-2.5-flash' }, source: null },
    };
    const rt = new EmbeddedRuntime(valorTopology({ partitions: 1 }), { only: [] });
    await rt.produce(T.rewardGroups, [
      { key: 'g1', value: group },
      { key: 'g1', value: group },
    ]);
    const dir = path.join(work, 'rewards');
    const r = await runEmbeddedSink({
      runtime: rt,
      topic: T.rewardGroups,
      storage: new LocalFileStorage(dir),
      shardDir: 'groups',
      format: new RewardFormat(),
      logger: silentLogger,
    });
    expect(r).toMatchObject({ written: 1, duplicates: 1 });
    const lines = fs
      .readdirSync(path.join(dir, 'groups'))
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) =>
        fs
          .readFileSync(path.join(dir, 'groups', f), 'utf8')
          .split('\n')
          .filter(Boolean),
      );
    expect(JSON.parse(lines[0]!)).toMatchObject({
      groupId: 'g1',
      mean: 0.5,
      std: 0.5,
      members: group.members,
      lineage: { versions: { 'judge.model': 'gemini-2.5-flash' } },
    });
  });
});
