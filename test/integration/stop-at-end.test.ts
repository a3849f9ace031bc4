// `sink odvg|rewards --stop-at-end` on topics written in transactions. A committed
// transaction ends with a commit marker that takes an offset but is never delivered, so the
// high watermark lies past the last record; the sinks must still see the end and exit.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { silentLogger } from '../../core/logger';
import type { RewardRecord } from '../../schemas/generated/types';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { pseudoLabelsFromCorpus } from '../fixtures/pseudo-labels';
import { rewardRecord } from '../fixtures/records';
import { readTopic, runId, services, startCli, testKafka, testRegistry, testTopicNames, within } from './services';

jest.setTimeout(300_000);

function lines(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
}

/** Waits for a child to exit; kills it and fails if it has not within `ms`. */
async function exitOf(child: ChildProcess, ms: number, what: string): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return within(`${what} exiting`, exited, ms).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
}

describe('sinks stop at the end of transactional topics', () => {
  it('sink odvg and sink rewards --stop-at-end exit on topics written by the exactly-once runtime', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'it-stop-end-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(work, 'corpus'), count: 20, seed: 9 });
    const topics = testTopicNames(id);
    const nodeConfig = { 'reward-group': { timeoutMs: 600_000, punctuateMs: 500 } };
    const topology = valorTopology({ topics, partitions: 2, nodeConfig });
    const kafka = testKafka();
    await ensureTopics(kafka, topology);
    const registry = testRegistry();
    const serdes = new SerdeSet(registry, (t) => topicByName(topology, t).type);
    const cfgFile = path.join(work, 'config.json');
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        runtime: 'kafka',
        partitions: 2,
        topics,
        nodes: nodeConfig,
        kafka: { brokers: [bootstrap] },
        registry: { url: registryUrl },
        delivery: { groupPrefix: `g.${id}`, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 },
        sinks: {
          odvg: { dir: path.join(work, 'odvg'), labelTopic: `it.${id}.labels`, images: { allowedRoots: [work] } },
          rewards: { dir: path.join(work, 'rewards') },
        },
      }),
    );

    // Reward groups come from the group node on the exactly-once runtime.
    const G = 12;
    const records = Array.from({ length: G }, (_, g) => Array.from({ length: 3 }, (_, i) => rewardRecord(`grp${g}`, i, 3, i / 2))).flat();
    const writer = new KafkaRecordWriter(kafka, serdes);
    await writer.write<RewardRecord>(
      topics.rewardRecords,
      records.map((r) => ({ key: r.groupId, value: r })),
    );
    await writer.close();
    const runtime = new KafkaRuntime(topology, {
      kafka,
      registry,
      logger: silentLogger,
      only: ['reward-group'],
      createTopics: false,
      config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}`, maxInFlight: 4, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 }),
    });
    await runtime.start();
    expect(await readTopic(kafka, topics.rewardGroups, G, 120_000)).toHaveLength(G);
    await runtime.stop();

    // Pseudo-labels in transactions the way the runtime writes them, one per partition per
    // transaction, and a last transaction that aborts: its records and marker end the log.
    const N = 40;
    const labels = pseudoLabelsFromCorpus(corpus.groundTruthFile, N);
    const producer = kafka.producer({ transactionalId: `tx.${id}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const encode = (v: (typeof labels)[number]) => serdes.for(topics.pseudoLabels).encode(v);
    for (let i = 0; i < N; i += 5) {
      const txn = await producer.transaction();
      await txn.send({
        topic: topics.pseudoLabels,
        messages: await Promise.all(labels.slice(i, i + 5).map(async (v) => ({ key: v.queryId, value: await encode(v) }))),
      });
      await txn.commit();
    }
    const aborted = await producer.transaction();
    await aborted.send({ topic: topics.pseudoLabels, messages: [{ key: 'never', value: await encode(labels[0]!) }] });
    await aborted.abort();
    await producer.disconnect();

    // The premise: the high watermarks lie past the last records.
    const admin = kafka.admin();
    await admin.connect();
    const high = async (t: string) => (await admin.fetchTopicOffsets(t)).reduce((a, o) => a + Number(o.high), 0);
    const [plHigh, rgHigh] = [await high(topics.pseudoLabels), await high(topics.rewardGroups)];
    await admin.disconnect();
    expect(plHigh).toBeGreaterThan(N + 1);
    expect(rgHigh).toBeGreaterThan(G);

    const odvg = startCli(['sink', 'odvg', '--config', cfgFile, '--stop-at-end'], { logLevel: 'warn' });
    expect(await exitOf(odvg, 180_000, 'sink odvg --stop-at-end')).toBe(0);
    const rewards = startCli(['sink', 'rewards', '--config', cfgFile, '--stop-at-end'], { logLevel: 'warn' });
    expect(await exitOf(rewards, 180_000, 'sink rewards --stop-at-end')).toBe(0);

    expect(lines(path.join(work, 'odvg', 'shards'))).toHaveLength(N);
    const groups = lines(path.join(work, 'rewards', 'groups')).map((l) => JSON.parse(l) as { groupId: string });
    expect(new Set(groups.map((g) => g.groupId)).size).toBe(G);
    expect(groups).toHaveLength(G);
  });
});
