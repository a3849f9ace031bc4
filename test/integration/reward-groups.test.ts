// Group completion on the real broker: reward records of many groups arrive shuffled while
// the group node is SIGKILLed again and again, sometimes with two instances rebalancing
// partitions between them. Every complete group must come out exactly once, and none
// partial: the pending groups live in the changelog, committed with the offsets.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../core/logger';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import type { DeadLetter, RewardGroup, RewardRecord } from '../../schemas/generated/types';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { rewardRecord, seededShuffle } from '../fixtures/records';
import { readTopic, runId, services, startCli, testKafka, testRegistry, testTopicNames } from './services';

jest.setTimeout(600_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('reward groups on the real broker', () => {
  it('emits every complete group exactly once through kills, restarts and rebalances', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const topics = testTopicNames(id);
    // Long timeout: a group is partial only if the pipeline lost its members, which is the bug to catch.
    const nodes = { 'reward-group': { timeoutMs: 600_000, punctuateMs: 500 } };
    const topology = valorTopology({ topics, partitions: 4, nodeConfig: nodes });
    const cfgFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'groups-')), 'config.json');
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        runtime: 'kafka',
        topology: 'valor',
        partitions: 4,
        topics,
        nodes,
        kafka: { brokers: [bootstrap] },
        registry: { url: registryUrl },
        delivery: { groupPrefix: `g.${id}`, maxInFlight: 20, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 },
      }),
    );
    const kafka = testKafka();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(testRegistry(), (t) => topicByName(topology, t).type);

    const G = 300;
    const groups = Array.from({ length: G }, (_, g) =>
      Array.from({ length: 1 + (g % 8) }, (_, i) => rewardRecord(`grp${g}`, i, 1 + (g % 8), ((g * 7 + i * 3) % 5) / 4)),
    );
    // Members of a group land far apart, interleaved with other groups; a few are sent twice.
    const members = seededShuffle(groups.flat(), 2026);
    const stream = [...members, ...seededShuffle(members, 7).slice(0, 60)];
    const producing = (async () => {
      const writer = new KafkaRecordWriter(kafka, serdes);
      for (let i = 0; i < stream.length; i += 40) {
        await writer.write<RewardRecord>(
          topics.rewardRecords,
          stream.slice(i, i + 40).map((r) => ({ key: r.groupId, value: r })),
        );
        await sleep(250);
      }
      await writer.close();
    })();

    const start = (): ChildProcess => startCli(['run', '--config', cfgFile, '--only', 'reward-group']);
    const kill = async (c: ChildProcess) => {
      c.kill('SIGKILL');
      if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
    };
    const rounds: string[] = [];
    for (let k = 0; k < 5; k++) {
      // Odd rounds run two instances: partitions (and their state) move between them.
      const children = k % 2 ? [start(), start()] : [start()];
      const wait = 3000 + Math.floor(Math.random() * 3000);
      await sleep(wait / 2);
      if (children.length === 2) await kill(children[1]!); // one leaves mid-round: a rebalance
      await sleep(wait / 2);
      await kill(children[0]!);
      rounds.push(`${children.length}x${wait}ms`);
    }
    await producing;
    const final = start();
    const out = await readTopic(kafka, topics.rewardGroups, G, 240_000);
    final.kill('SIGTERM');
    const code = await new Promise((r) => final.once('exit', r));
    process.stderr.write(`reward groups: rounds ${rounds.join(', ')}; ${out.length} group records for ${G} groups; clean exit ${String(code)}\n`);

    const emitted = await Promise.all(out.map((m) => serdes.for<RewardGroup>(topics.rewardGroups).decode(m.value)));
    const counts = new Map<string, number>();
    for (const g of emitted) counts.set(g.groupId, (counts.get(g.groupId) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
    expect(counts.size).toBe(G);
    for (const g of emitted) {
      const expected = groups[Number(g.groupId.slice(3))]!;
      expect(g.partial).toBe(false);
      expect(g.members.map((m) => m.rolloutId)).toEqual(expected.map((r) => r.rolloutId).sort());
      expect(g.mean).toBeCloseTo(expected.reduce((a, r) => a + r.total, 0) / expected.length, 12);
    }
    expect(code).toBe(0);
  });

  it('times out a group partial with no records flowing, once, and remembers it across a restart', async () => {
    const id = runId();
    const topics = testTopicNames(id);
    const topology = valorTopology({ topics, partitions: 2, nodeConfig: { 'reward-group': { timeoutMs: 1_500, punctuateMs: 200 } } });
    const kafka = testKafka();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(testRegistry(), (t) => topicByName(topology, t).type);
    const runtime = () =>
      new KafkaRuntime(topology, {
        kafka,
        registry: testRegistry(),
        logger: silentLogger,
        only: ['reward-group'],
        config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}`, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 }),
      });
    const writer = new KafkaRecordWriter(kafka, serdes);
    await writer.write<RewardRecord>(
      topics.rewardRecords,
      [rewardRecord('late', 0, 3, 1), rewardRecord('late', 1, 3, 0)].map((r) => ({ key: r.groupId, value: r })),
    );

    const first = runtime();
    await first.start();
    const [partial] = await readTopic(kafka, topics.rewardGroups, 1, 60_000);
    const group = await serdes.for<RewardGroup>(topics.rewardGroups).decode(partial!.value);
    expect(group).toMatchObject({ groupId: 'late', partial: true, mean: 0.5 });
    await first.stop();

    // A new instance restores the emitted marker: the timeout does not fire again, and the
    // missing member, arriving now, is dead-lettered with its reason instead of re-opening the group.
    const second = runtime();
    await second.start();
    await writer.write<RewardRecord>(
      topics.rewardRecords,
      [rewardRecord('late', 2, 3, 1)].map((r) => ({ key: r.groupId, value: r })),
    );
    const [dead] = await readTopic(kafka, topics.deadLetters, 1, 60_000);
    await sleep(1_500); // several punctuations
    await second.stop();
    await writer.close();
    expect((await serdes.for<DeadLetter>(topics.deadLetters).decode(dead!.value)).reason).toMatch(/late-r2 arrived after group late was emitted partial/);
    expect(await readTopic(kafka, topics.rewardGroups, 2, 3_000)).toHaveLength(1);
  });
});
