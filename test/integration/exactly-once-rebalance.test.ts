// Exactly-once through rebalances, on the real broker. kafkajs re-fetches committed offsets
// after every re-join without KIP-447's require_stable, so a fetch right after a commit can
// return the previous offset. The runner must never process a record below what is
// committed: the focused tests put the consumer at offset 0 after a commit (exactly what a
// stale fetch does) and expect no second copy; the storm test drives many rebalances of a
// stateless and a stateful node while records flow, with members joining, leaving and
// being SIGKILLed (a dead member stays in the group while the live ones commit).
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { kafkaConnectionSchema, kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { silentLogger } from '../../core/logger';
import type { ImageQuery, RewardGroup, RewardRecord } from '../../schemas/generated/types';
import { topicByName } from '../../topology/topology';
import type { Topology } from '../../topology/topology';
import { passthroughTopology, TOPOLOGIES, valorTopology } from '../../topology/valor-topology';
import { imageQuery, rewardRecord, seededShuffle } from '../fixtures/records';
import { readTopic, runId, services, startCli, testKafka, testRegistry, testTopicNames, within } from './services';

jest.setTimeout(900_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A step of the storm, bounded (two minutes unless said). */
const step = <T>(what: string, p: Promise<T>, ms = 120_000): Promise<T> => within(`storm step: ${what}`, p, ms);

async function until(what: string, cond: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function countIds(ids: string[]): { dups: Array<[string, number]>; unique: number } {
  const counts = new Map<string, number>();
  for (const x of ids) counts.set(x, (counts.get(x) ?? 0) + 1);
  return { dups: [...counts].filter(([, n]) => n > 1), unique: counts.size };
}

describe('exactly-once: the start offset of a partition', () => {
  const setup = async (id: string) => {
    const topology = passthroughTopology({ input: `it.${id}.in`, output: `it.${id}.out`, deadLetters: `it.${id}.dl`, partitions: 1 });
    const kafka = testKafka();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(testRegistry(), (t) => topicByName(topology, t).type);
    const writer = new KafkaRecordWriter(kafka, serdes);
    const runtime = () =>
      new KafkaRuntime(topology, {
        kafka,
        registry: testRegistry(),
        logger: silentLogger,
        config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}`, maxInFlight: 10, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 }),
      });
    const write = (from: number, n: number) =>
      writer.write(
        `it.${id}.in`,
        Array.from({ length: n }, (_, i) => ({ key: `k${from + i}`, value: imageQuery(from + i) })),
      );
    const outputIds = async (expected: number) => {
      const out = await readTopic(kafka, `it.${id}.out`, expected, 60_000);
      return Promise.all(out.map(async (m) => (await serdes.for<ImageQuery>(`it.${id}.out`).decode(m.value)).id));
    };
    return { kafka, writer, runtime, write, outputIds };
  };

  it('does not process again what this process committed when its consumer goes back (a stale fetch)', async () => {
    const { writer, runtime, write, outputIds } = await setup(runId());
    const r = runtime();
    await r.start();
    await write(0, 30);
    const runner = r.runners[0]!;
    await until('30 records committed', () => runner.stats.processed >= 30);
    // What kafkajs does after a re-join whose offset fetch came too soon after the commit.
    runner.kafkaConsumer!.seek({ topic: runner.topic, partition: 0, offset: '0' });
    await write(30, 10);
    await until('40 records committed', () => runner.stats.processed >= 40);
    const ids = await outputIds(40);
    await r.stop();
    await writer.close();
    expect(countIds(ids)).toEqual({ dups: [], unique: 40 });
    expect(runner.staleStartsCaught).toBeGreaterThanOrEqual(1);
  });

  it('starts a partition that another member committed from the committed offset, whatever its consumer was given', async () => {
    const { writer, runtime, write, outputIds } = await setup(runId());
    const first = runtime();
    await first.start();
    await write(0, 30);
    await until('30 records committed', () => first.runners[0]!.stats.processed >= 30);
    await first.stop();

    const second = runtime();
    await second.start();
    const runner = second.runners[0]!;
    await until('the new member has joined', () => runner.kafkaConsumer !== undefined);
    await sleep(1000);
    runner.kafkaConsumer!.seek({ topic: runner.topic, partition: 0, offset: '0' });
    await write(30, 10);
    await until('the new member committed 10 records', () => runner.stats.processed >= 10);
    const ids = await outputIds(40);
    await second.stop();
    await writer.close();
    expect(countIds(ids)).toEqual({ dups: [], unique: 40 });
    expect(runner.stats.processed).toBe(10);
  });
});

describe('exactly-once through a storm of rebalances', () => {
  it('keeps every output of a stateless and a stateful node exactly once through 50+ rebalances', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storm-'));
    // What the in-process members, kafkajs and the child processes say goes to one file; a
    // failure prints its end, so a storm that goes wrong on a CI machine says where.
    const logFile = path.join(dir, 'storm.log');
    const log = pino({ level: 'info', base: undefined }, pino.destination({ dest: logFile, sync: true }));
    const logFd = fs.openSync(logFile, 'a');
    const kafka = createKafka(kafkaConnectionSchema.parse({ brokers: [bootstrap], clientId: 'storm' }), log.child({ member: 'test' }));
    const registry = testRegistry();
    const delivery = { groupPrefix: `g.${id}`, maxInFlight: 20, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 };
    const config = kafkaRuntimeSchema.parse(delivery);
    const started = Date.now();
    const progress = (msg: string) => log.info({ s: Math.round((Date.now() - started) / 1000) }, `storm: ${msg}`);

    // Stateless: pass-through. Stateful: group completion with its changelog.
    const input = `it.${id}.in`;
    const stateless = TOPOLOGIES.passthrough!({ topics: { imageQueries: input, deadLetters: `it.${id}.dl0` }, partitions: 4 });
    const statelessOut = stateless.nodes[0]!.outputs.out!;
    const topics = testTopicNames(id);
    const nodeConfig = { 'reward-group': { timeoutMs: 600_000, punctuateMs: 500 } };
    const stateful = valorTopology({ topics, partitions: 4, nodeConfig });
    await ensureTopics(kafka, stateless);
    await ensureTopics(kafka, stateful);
    const cfg = (name: string, body: object) => {
      const file = path.join(dir, `${name}.json`);
      fs.writeFileSync(
        file,
        JSON.stringify({ runtime: 'kafka', partitions: 4, kafka: { brokers: [bootstrap] }, registry: { url: registryUrl }, delivery, ...body }),
      );
      return file;
    };
    const statelessCfg = cfg('stateless', { topology: 'passthrough', topics: { imageQueries: input, deadLetters: `it.${id}.dl0` } });
    const statefulCfg = cfg('stateful', { topology: 'valor', topics, nodes: nodeConfig });

    // Everything started is stopped at the end, also when the test fails half-way.
    const running = new Set<KafkaRuntime>();
    const children = new Set<ChildProcess>();
    let memberCount = 0;
    const member = (topology: Topology, only?: string[]) => {
      const rt = new KafkaRuntime(topology, { kafka, registry, logger: log.child({ member: ++memberCount }), config, only, createTopics: false });
      running.add(rt);
      return rt;
    };
    const stop = async (rt: KafkaRuntime, what: string) => {
      await step(`stopping ${what}`, rt.stop());
      running.delete(rt);
    };
    const child = (args: string[]) => {
      const c = startCli(args, { logLevel: 'info', stderr: logFd });
      children.add(c);
      return c;
    };
    const kinds = [
      { name: 'stateless', member: () => member(stateless), child: () => child(['run', '--config', statelessCfg]) },
      { name: 'stateful', member: () => member(stateful, ['reward-group']), child: () => child(['run', '--config', statefulCfg, '--only', 'reward-group']) },
    ];
    const kill = async (c: ChildProcess) => {
      children.delete(c);
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await step('a killed child to exit', exited, 30_000);
    };

    try {
      // One member of each group stays for the whole test and sees every rebalance of its group.
      const anchors = await Promise.all(
        kinds.map(async (k) => {
          const rt = k.member();
          await step(`starting the ${k.name} anchor`, rt.start());
          return rt;
        }),
      );
      const joins = anchors.map(() => 0);
      anchors.forEach((rt, i) => rt.runners[0]!.kafkaConsumer!.on('consumer.group_join', () => void joins[i]!++));

      // Records flow during the whole storm.
      const serdes = new SerdeSet(registry, (t) => (t.startsWith(`it.${id}.in`) ? topicByName(stateless, t).type : topicByName(stateful, t).type));
      const N = 3000;
      const G = 200;
      const groups = Array.from({ length: G }, (_, g) => Array.from({ length: 1 + (g % 6) }, (_, i) => rewardRecord(`grp${g}`, i, 1 + (g % 6), (g + i) % 2)));
      const members = seededShuffle(groups.flat(), 11);
      let producing = true;
      const producer = (async () => {
        const writer = new KafkaRecordWriter(kafka, serdes);
        const steps = 40;
        for (let s = 0; s < steps; s++) {
          const q = Array.from({ length: N / steps }, (_, j) => (s * N) / steps + j);
          await writer.write(
            input,
            q.map((i) => ({ key: `k${i % 41}`, value: imageQuery(i) })),
          );
          const m = members.slice(Math.floor((s * members.length) / steps), Math.floor(((s + 1) * members.length) / steps));
          await writer.write<RewardRecord>(
            topics.rewardRecords,
            m.map((r) => ({ key: r.groupId, value: r })),
          );
          await sleep(2500);
        }
        await writer.close();
        producing = false;
      })();

      // Each round, per group: a member joins, a second process joins and is SIGKILLed (it stays
      // in the group, dead, until its session times out, while the anchor commits), and the first
      // member leaves. Four rebalances per group per round.
      const round = async (k: (typeof kinds)[number], r: number) => {
        const extra = k.member();
        await step(`round ${r}: starting a ${k.name} member`, extra.start());
        await sleep(1000 + ((r * 373) % 1000));
        const c = k.child();
        await sleep(2500 + ((r * 617) % 1500));
        await kill(c);
        await stop(extra, `round ${r}: the ${k.name} member`);
        await sleep(1500);
      };
      let rounds = 0;
      // Rebalances that come close together merge, so go on until enough were seen (bounded
      // in rounds and in time: a storm that drags is reported by the join count, with the log).
      while (rounds < 24 && Date.now() - started < 420_000 && (producing || joins[0]! + joins[1]! < 56)) {
        await Promise.all(kinds.map((k) => round(k, rounds)));
        rounds++;
        progress(`round ${rounds} done; joins ${joins.join(', ')}; producing ${producing}`);
      }
      await step('the producer', producer);

      const [outQ, outG] = await Promise.all([readTopic(kafka, statelessOut, N, 240_000), readTopic(kafka, topics.rewardGroups, G, 240_000)]);
      const stale = anchors.map((a) => a.runners[0]!.staleStartsCaught);
      await Promise.all(anchors.map((a, i) => stop(a, `the ${kinds[i]!.name} anchor`)));
      const q = countIds(await Promise.all(outQ.map(async (m) => (await serdes.for<ImageQuery>(statelessOut).decode(m.value)).id)));
      const decodedGroups = await Promise.all(outG.map((m) => serdes.for<RewardGroup>(topics.rewardGroups).decode(m.value)));
      const g = countIds(decodedGroups.map((x) => x.groupId));
      process.stderr.write(
        `rebalance storm: ${rounds} rounds; group joins seen by the anchors: stateless ${joins[0]}, stateful ${joins[1]}; ` +
          `stale starts caught by the anchors: ${stale.join(', ')}; outputs ${outQ.length}/${N} and ${outG.length}/${G} groups\n`,
      );

      expect(joins[0]! + joins[1]!).toBeGreaterThanOrEqual(50);
      expect(q).toEqual({ dups: [], unique: N });
      expect(g).toEqual({ dups: [], unique: G });
      for (const x of decodedGroups) {
        expect(x.partial).toBe(false);
        expect(x.members).toHaveLength(groups[Number(x.groupId.slice(3))]!.length);
      }
    } catch (err) {
      const lines = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n');
      process.stderr.write(`rebalance storm failed; the last 200 of ${lines.length} log lines (${logFile}):\n${lines.slice(-200).join('\n')}\n`);
      throw err;
    } finally {
      await Promise.all([...children].map((c) => kill(c).catch(() => undefined)));
      await Promise.all([...running].map((rt) => stop(rt, 'a member left running').catch(() => undefined)));
      fs.closeSync(logFd);
    }
  });
});
