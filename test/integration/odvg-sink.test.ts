// Two ODVG sink instances in one consumer group split the partitions and must agree on
// every label id, because ids come from one ordered label log, not from each instance.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { KafkaSinkRunner } from '../../connectors/sinks/kafka-sink-runner';
import { KafkaLabelRegistry } from '../../connectors/sinks/label-registry';
import { OdvgFormat } from '../../connectors/sinks/odvg-format';
import { imageIntakeConfig } from '../../models/images/image-intake';
import { LocalFileStorage } from '../../connectors/sinks/shard-storage';
import { silentLogger } from '../../core/logger';
import type { PseudoLabel } from '../../schemas/generated/types';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { pseudoLabelsFromCorpus } from '../fixtures/pseudo-labels';
import { runId, testKafka, testRegistry, testTopicNames } from './services';

jest.setTimeout(300_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROOT = path.join(__dirname, '..', '..');

describe('ODVG sink instances', () => {
  it('two instances on different partitions agree on every label id', async () => {
    const id = runId();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'it-odvg-two-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(work, 'corpus'), count: 30, seed: 4 });
    const topics = testTopicNames(id);
    const topology = valorTopology({ topics, partitions: 2 });
    const kafka = testKafka();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(testRegistry(), (t) => topicByName(topology, t).type);
    const N = 600;
    const records = pseudoLabelsFromCorpus(corpus.groundTruthFile, N);
    const writer = new KafkaRecordWriter(kafka, serdes);
    await writer.write(
      topics.pseudoLabels,
      records.map((v) => ({ key: v.queryId, value: v })),
    );
    await writer.close();

    const instance = async (name: string) => {
      const dir = path.join(work, name);
      const storage = new LocalFileStorage(dir);
      const labels = await KafkaLabelRegistry.open(kafka, `it.${id}.labels`, testRegistry());
      const format = new OdvgFormat({
        storage,
        rootPath: dir,
        shardDir: 'shards',
        labels,
        images: imageIntakeConfig.parse({ allowedRoots: [work] }),
        mode: 'od',
        keepNegativeOnly: true,
      });
      const runner = new KafkaSinkRunner<PseudoLabel>({
        kafka,
        serdes,
        topic: topics.pseudoLabels,
        deadLetterTopic: topics.deadLetters,
        groupId: `g.${id}.sink`,
        storage,
        shardDir: 'shards',
        format,
        rotation: { maxRecords: 50 },
        logger: silentLogger,
        sessionTimeoutMs: 6000,
        heartbeatIntervalMs: 500,
      });
      return { dir, runner, labels };
    };
    const a = await instance('a');
    const b = await instance('b');
    await Promise.all([a.runner.start(), b.runner.start()]);
    // Until the group has settled on one partition each and both have stopped writing.
    let prev = '';
    for (let t = 0; t < 120; t++) {
      await sleep(1000);
      const [ta, tb] = await Promise.all([a.runner.totals(), b.runner.totals()]);
      const now = JSON.stringify([ta.partitions, tb.partitions, ta.written, tb.written]);
      if (ta.partitions.length === 1 && tb.partitions.length === 1 && now === prev) break;
      prev = now;
    }
    const [pa, pb] = [(await a.runner.totals()).partitions, (await b.runner.totals()).partitions];
    await Promise.all([a.runner.stop(), b.runner.stop()]);
    await Promise.all([a.labels.close(), b.labels.close()]);
    expect([...pa, ...pb].sort()).toEqual([0, 1]);

    const read = (dir: string) =>
      fs
        .readdirSync(path.join(dir, 'shards'))
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) =>
          fs
            .readFileSync(path.join(dir, 'shards', f), 'utf8')
            .split('\n')
            .filter(Boolean),
        )
        .map((l) => JSON.parse(l) as { detection: { instances: Array<{ label: number; category: string }> } });
    const idsSeen = new Map<string, Set<number>>();
    let total = 0;
    for (const dir of [a.dir, b.dir]) {
      for (const r of read(dir)) {
        total++;
        for (const i of r.detection.instances) {
          if (!idsSeen.has(i.category)) idsSeen.set(i.category, new Set());
          idsSeen.get(i.category)!.add(i.label);
        }
      }
      const check = JSON.parse(
        execFileSync('python3', [path.join(ROOT, 'test', 'fixtures', 'odvg_loader_check.py'), path.join(dir, 'dataset.json')], { encoding: 'utf8' }),
      );
      expect(check.ok).toBe(true);
    }
    // The group may have moved a partition once at start-up; records can then be in both
    // directories, but never twice within one, and never lost.
    expect(total).toBeGreaterThanOrEqual(N);
    for (const [cat, ids] of idsSeen) expect([cat, [...ids]]).toEqual([cat, [[...ids][0]]]);
    const mapA = JSON.parse(fs.readFileSync(path.join(a.dir, 'label_map.json'), 'utf8'));
    const mapB = JSON.parse(fs.readFileSync(path.join(b.dir, 'label_map.json'), 'utf8'));
    for (const [cat, ids] of idsSeen) {
      const lid = String([...ids][0]);
      expect(mapA[lid] ?? mapB[lid]).toBe(cat);
      if (mapA[lid] && mapB[lid]) expect(mapA[lid]).toBe(mapB[lid]);
    }
    fs.rmSync(work, { recursive: true, force: true });
  });
});
