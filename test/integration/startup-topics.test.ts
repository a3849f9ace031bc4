// Start-up while topic metadata is briefly unavailable: another client creates every topic
// (the topology's, the label log, the verdict store, the changelog) at the same moment as
// the nodes and sinks start and create them too. Right after creation a broker answers
// "does not host this topic-partition" for a while; every process must ride that out.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import type { RewardRecord } from '../../schemas/generated/types';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { rewardRecord } from '../fixtures/records';
import { readTopic, runId, services, startCli, testKafka, testRegistry, testTopicNames } from './services';

jest.setTimeout(300_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('start-up with topics being created by another client', () => {
  it('starts every node and sink, and each works', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'it-startup-'));
    const topics = testTopicNames(id);
    const nodeConfig = {
      // The provider is never reached in this test; the node opens its verdict store at start.
      verify: { provider: { kind: 'openai-responses', baseURL: 'http://127.0.0.1:9/v1', apiKeyEnv: 'VS_IT_STARTUP_KEY' } },
      'reward-group': { timeoutMs: 600_000, punctuateMs: 500 },
    };
    process.env.VS_IT_STARTUP_KEY = 'sk-it-startup';
    const topology = valorTopology({ topics, partitions: 3, nodeConfig });
    const cfgFile = path.join(work, 'config.json');
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        runtime: 'kafka',
        partitions: 3,
        topics,
        nodes: nodeConfig,
        kafka: { brokers: [bootstrap] },
        registry: { url: registryUrl },
        stores: { topicPrefix: `it.${id}.store.` },
        delivery: { groupPrefix: `g.${id}`, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 },
        sinks: { odvg: { dir: path.join(work, 'odvg'), labelTopic: `it.${id}.labels` }, rewards: { dir: path.join(work, 'rewards') } },
      }),
    );

    // The other client: creates every topic at once, without waiting for leaders.
    const kafka = testKafka('startup-racer');
    const admin = kafka.admin();
    await admin.connect();
    const all = [
      ...topology.topics.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        configEntries: t.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
      })),
      { topic: `it.${id}.labels`, numPartitions: 1, configEntries: [] },
      { topic: `it.${id}.store.verdicts`, numPartitions: 4, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ];
    const logs: string[] = [];
    const start = (name: string, args: string[]): ChildProcess => {
      const log = path.join(work, `${name}.log`);
      logs.push(log);
      const fd = fs.openSync(log, 'a');
      return startCli([...args, '--config', cfgFile], { logLevel: 'info', stdout: fd, stderr: fd });
    };
    const racing = admin.createTopics({ waitForLeaders: false, topics: all }).catch(() => false);
    const children = {
      nodes: start('nodes', ['run', '--only', 'verify,reward-group']),
      odvg: start('odvg', ['sink', 'odvg']),
      rewards: start('rewards', ['sink', 'rewards']),
    };
    await racing;
    await admin.disconnect();
    const exits = new Map<string, number | null>();
    for (const [name, c] of Object.entries(children)) c.once('exit', (code) => exits.set(name, code));
    try {
      await startAndWork();
    } finally {
      for (const c of Object.values(children)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }

    async function startAndWork(): Promise<void> {
      const logged = (name: string, what: string) =>
        fs.existsSync(path.join(work, `${name}.log`)) && fs.readFileSync(path.join(work, `${name}.log`), 'utf8').includes(what);
      const deadline = Date.now() + 120_000;
      while (!(logged('nodes', 'kafka runtime started') && logged('odvg', 'sink started') && logged('rewards', 'sink started'))) {
        if (exits.size || Date.now() > deadline) {
          for (const l of logs)
            process.stderr.write(`--- ${path.basename(l)}\n${fs.existsSync(l) ? fs.readFileSync(l, 'utf8').split('\n').slice(-15).join('\n') : ''}\n`);
          throw new Error(`not every process started: exited ${JSON.stringify([...exits])}`);
        }
        await sleep(250);
      }

      // Each works: a group is completed, and the sinks write what they were given.
      const serdes = new SerdeSet(testRegistry(), (t) => topicByName(topology, t).type);
      const writer = new KafkaRecordWriter(kafka, serdes);
      await writer.write<RewardRecord>(
        topics.rewardRecords,
        [0, 1].map((i) => ({ key: 'g0', value: rewardRecord('g0', i, 2, i) })),
      );
      await writer.close();
      expect(await readTopic(kafka, topics.rewardGroups, 1, 120_000)).toHaveLength(1);
      const groupsDir = path.join(work, 'rewards', 'groups');
      const stopped = Object.values(children).map((c) => new Promise((r) => c.once('exit', r)));
      // Give the rewards sink time to read the group, then stop everything cleanly.
      for (let t = 0; t < 60 && !(await sinkHasRead(path.join(work, 'rewards.log'))); t++) await sleep(1000);
      for (const c of Object.values(children)) c.kill('SIGTERM');
      await Promise.all(stopped);
      expect(Object.fromEntries(exits)).toEqual({ nodes: 0, odvg: 0, rewards: 0 });
      const lines = fs
        .readdirSync(groupsDir)
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) => fs.readFileSync(path.join(groupsDir, f), 'utf8').split('\n').filter(Boolean));
      expect(lines.map((l) => (JSON.parse(l) as { groupId: string }).groupId)).toEqual(['g0']);
    }
  });
});

/** The sink logs its totals every 10 s; one record written shows it has read the group. */
async function sinkHasRead(log: string): Promise<boolean> {
  if (!fs.existsSync(log)) return false;
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .some((l) => l.includes('sink progress') && /"written":[1-9]/.test(l));
}
