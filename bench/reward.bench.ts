// The reward loop's figures, against a fake judge (the fake Vertex AI server in a child
// process) that answers after 1 s:
//  (a) rollouts scored per second by the reward node (four judges per rollout, run
//      concurrently, plus the Python sandbox) for several values of the judge's
//      concurrency limit, next to the ideal limit / 4 calls / 1 s;
//  (b) latency of POST /get_reward for a batch of 64 rollouts (8 prompts x 8 responses)
//      over the Kafka exchange on the local broker, with the reward node on the same
//      broker, and over the embedded exchange for comparison. With every judge call of a
//      batch in flight at once, one judge latency (1 s) is the floor.
// Prints `name: value unit` lines.
import { fork } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { EmbeddedRewardExchange } from '../connectors/reward-endpoint/embedded-reward-exchange';
import { EmbeddedRuntime } from '../runtime/embedded/embedded-runtime';
import { rewardTopics, RewardExchange } from '../connectors/reward-endpoint/reward-exchange';
import { RewardServer } from '../connectors/reward-endpoint/reward-server';
import { kafkaRuntimeSchema } from '../runtime/kafka/kafka-config';
import { KafkaRewardExchange } from '../connectors/reward-endpoint/kafka-reward-exchange';
import { KafkaRuntime } from '../runtime/kafka/kafka-runtime';
import { ConfluentRegistry } from '../runtime/registry/confluent-registry';
import { SerdeSet } from '../runtime/serde/topic-serde';
import { lineageOf } from '../core/lineage';
import { silentLogger } from '../core/logger';
import type { ReasoningRollout, RewardRecord } from '../schemas/generated/types';
import { DEFAULT_TOPIC_NAMES } from '../topology/topics';
import type { TopicNames } from '../topology/topics';
import { topicByName } from '../topology/topology';
import { valorTopology } from '../topology/valor-topology';

const LATENCY_MS = Number(process.env.BENCH_JUDGE_LATENCY_MS ?? 1000);
const LIMITS = (process.env.BENCH_REWARD_LIMITS ?? '4,16,64').split(',').map(Number);
const BATCH = Number(process.env.BENCH_REWARD_BATCH ?? 64);
const BATCHES = Number(process.env.BENCH_REWARD_BATCHES ?? 15);
const bootstrap = process.env.KAFKA_BOOTSTRAP ?? '127.0.0.1:39092';
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:38081/apis/ccompat/v7';
const JUDGES_PER_ROLLOUT = 4;

const program = (i: number) => `<plan>1. Detect the mug and the laptop.\n2. Compare their centres (${i}).</plan><answer>
dets = gd_detect(img_pth, "mug, laptop")
mug = [d["bbox"] for d in dets if d["label"] == "mug"][0]
laptop = [d["bbox"] for d in dets if d["label"] == "laptop"][0]
final_answer = "yes" if (mug[0] + mug[2]) / 2 < (laptop[0] + laptop[2]) / 2 else "no"
</answer>`;
const prompt = (i: number) => `<|im_start|>user\nQuestion ${i}: is the mug left of the laptop?<|im_end|>\n<|im_start|>assistant\n`;

function judgeConfig(baseURL: string, limit: number) {
  return {
    provider: { kind: 'gemini-vertex', project: 'bench', baseURL, accessTokenEnv: 'VALOR_BENCH_TOKEN' },
    limits: { concurrency: limit, timeoutMs: 60_000 },
    // Enough rollouts in work to keep every call slot busy.
    concurrency: limit,
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;

/** (a) one limit: N rollouts through the reward node on one partition, so all are in one chunk. */
async function throughput(baseURL: string, limit: number): Promise<void> {
  const n = Math.max(8, 2 * limit);
  const topology = valorTopology({ partitions: 1, nodeConfig: { reward: judgeConfig(baseURL, limit) } });
  const runtime = new EmbeddedRuntime(topology, { only: ['reward'], chunkSize: n });
  const t = rewardTopics(topology);
  const rollouts: ReasoningRollout[] = Array.from({ length: n }, (_, i) => ({
    id: `bench-${limit}-${i}`,
    groupId: `g-${Math.floor(i / 8)}`,
    groupSize: 8,
    questionId: `q-${Math.floor(i / 8)}`,
    question: 'Is the mug left of the laptop?',
    response: program(i),
    policyModel: null,
    step: null,
    createdAt: Date.now(),
    lineage: lineageOf('bench', []),
  }));
  await runtime.produce(
    t.rollouts,
    rollouts.map((r) => ({ key: r.groupId, value: r })),
  );
  const t0 = performance.now();
  const stats = await runtime.runUntilIdle();
  const secs = (performance.now() - t0) / 1000;
  const s = stats.get('reward')!;
  const records = await runtime.read<RewardRecord>(t.rewards);
  const calls = records.reduce((sum, r) => sum + r.value.usage.calls, 0);
  const rate = records.length / secs;
  const ideal = limit / JUDGES_PER_ROLLOUT / (LATENCY_MS / 1000);
  const label = `{concurrency=${limit}}`;
  console.log(
    `reward.rollouts${label}: ${records.length} rollouts (${s.deadLettered} dead-lettered, ${(calls / Math.max(1, records.length)).toFixed(1)} judge calls each)`,
  );
  console.log(`reward.rollouts_per_s${label}: ${rate.toFixed(2)} rollouts/s`);
  console.log(`reward.ideal_rollouts_per_s${label}: ${ideal.toFixed(2)} rollouts/s`);
  console.log(`reward.ratio_to_ideal${label}: ${(rate / ideal).toFixed(2)}`);
  await runtime.close();
}

/** (b) sequential batches through POST /get_reward; the first two warm up and are not counted. */
async function latency(exchange: RewardExchange, name: string): Promise<void> {
  const server = new RewardServer({ exchange, timeoutMs: 120_000, registry: new Registry() });
  const url = await server.start();
  const prompts = 8;
  const times: number[] = [];
  for (let b = -2; b < BATCHES; b++) {
    const query: string[] = [];
    const ps: string[] = [];
    for (let i = 0; i < BATCH; i++) {
      const p = prompt(b * prompts + (i % prompts));
      ps.push(p);
      query.push(p + program(i));
    }
    const t0 = performance.now();
    const res = await fetch(`${url}/get_reward`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, prompts: ps }),
    });
    const body = (await res.json()) as { rewards?: number[]; error?: string };
    const ms = performance.now() - t0;
    if (res.status !== 200 || body.rewards?.length !== BATCH)
      throw new Error(`/get_reward over ${name} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
    if (b >= 0) times.push(ms);
  }
  await server.close();
  times.sort((a, b) => a - b);
  const label = `{batch=${BATCH},exchange=${name}}`;
  console.log(`reward.get_reward_batches${label}: ${times.length} batches`);
  console.log(`reward.get_reward_p50${label}: ${percentile(times, 0.5).toFixed(0)} ms`);
  console.log(`reward.get_reward_p99${label}: ${percentile(times, 0.99).toFixed(0)} ms`);
  console.log(`reward.get_reward_min${label}: ${times[0]!.toFixed(0)} ms`);
}

async function kafkaLatency(baseURL: string): Promise<void> {
  const run = Date.now().toString(36);
  const topics = Object.fromEntries(Object.entries(DEFAULT_TOPIC_NAMES).map(([k, v]) => [k, `bench.${run}.${v}`])) as unknown as TopicNames;
  // Every judge call of a batch in flight at once: the batch's floor is one judge latency.
  const topology = valorTopology({
    partitions: 4,
    topics,
    nodeConfig: { reward: { ...judgeConfig(baseURL, BATCH * JUDGES_PER_ROLLOUT), concurrency: BATCH } },
  });
  const kafka = new Kafka({ clientId: 'bench-reward', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const registry = new ConfluentRegistry(registryUrl);
  const runtime = new KafkaRuntime(topology, {
    kafka,
    registry,
    logger: silentLogger,
    only: ['reward'],
    storeTopicPrefix: `bench.${run}.store.`,
    config: kafkaRuntimeSchema.parse({ groupPrefix: `bench.${run}` }),
  });
  await runtime.start();
  const exchange = await KafkaRewardExchange.start({
    kafka,
    serdes: new SerdeSet(registry, (t) => topicByName(topology, t).type),
    topics: rewardTopics(topology),
    rewardGroupId: `bench.${run}.reward`,
    groupCheckMs: 500,
  });
  for (let i = 0; i < 600 && exchange.down(); i++) await new Promise((r) => setTimeout(r, 100));
  if (exchange.down()) throw new Error(`the Kafka exchange stayed down: ${exchange.down()}`);
  try {
    await latency(exchange, 'kafka');
  } finally {
    await exchange.close();
    await runtime.stop();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: topology.topics.map((t) => t.name) }).catch(() => undefined);
    await admin.disconnect();
  }
}

async function embeddedLatency(baseURL: string): Promise<void> {
  const topology = valorTopology({ partitions: 1, nodeConfig: { reward: { ...judgeConfig(baseURL, BATCH * JUDGES_PER_ROLLOUT), concurrency: BATCH } } });
  const exchange = new EmbeddedRewardExchange(new EmbeddedRuntime(topology, { only: ['reward'] }));
  try {
    await latency(exchange, 'embedded');
  } finally {
    await exchange.close();
  }
}

async function main(): Promise<void> {
  const child = fork(`${__dirname}/fake-judge-process.js`, [String(LATENCY_MS)]);
  const baseURL = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { baseURL: string }) => resolve(m.baseURL));
    child.once('exit', (code) => reject(new Error(`fake judge exited with ${code}`)));
  });
  process.env.VALOR_BENCH_TOKEN = 'ya29.bench';
  console.log(`reward.judge_latency: ${LATENCY_MS} ms`);
  console.log(`reward.judges_per_rollout: ${JUDGES_PER_ROLLOUT} calls`);
  try {
    for (const limit of LIMITS) await throughput(baseURL, limit);
    await kafkaLatency(baseURL);
    await embeddedLatency(baseURL);
  } finally {
    child.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
