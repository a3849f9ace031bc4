// A spending limit on the real broker: two instances of the verify node (one consumer group,
// a partition each) share one hourly budget through the `budget` store's compacted topic.
// Spend stops within the two instances' in-flight records of the limit, the node reports
// itself paused, nothing is dead-lettered, and it resumes when the (test) clock passes the
// hour, finishing every record.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/logger';
import { MemoryStoreProvider } from '../../core/store';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../../evaluation/synthetic-proposals';
import { providerTotals } from '../../models/llm/shared-providers';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { StreamMetrics } from '../../runtime/metrics/stream-metrics';
import { serdesFor } from '../../runtime/serde/topic-serde';
import type { PseudoLabel } from '../../schemas/generated/types';
import { DEFAULT_TOPIC_NAMES } from '../../topology/topics';
import { valorTopology } from '../../topology/valor-topology';
import { FakeOpenAIServer } from '../fakes/fake-openai-server';
import { VerifierOracle } from '../fakes/verifier-oracle';
import { TopologyTestDriver } from '../harness/topology-test-driver';
import { runId, testKafka, testRegistry, testTopicNames } from './services';

const HOUR = 3_600_000;
const CONCURRENCY = 2;
const INSTANCES = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 180_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    if (process.env.VS_DEBUG) console.log(what);
    await sleep(100);
  }
}

describe('spending limit shared by two instances on the broker', () => {
  it('pauses both within their in-flight records of the limit, dead-letters nothing, resumes after the hour', async () => {
    const id = runId();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-budget-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 16, seed: 9 });
    const proposals = simulatedProposalRecords(corpus.groundTruthFile, { seed: 3 });
    const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
    const server = new FakeOpenAIServer({ oracle: oracle.answer });
    const baseURL = await server.start();
    process.env.VS_IT_BUDGET_KEY = 'sk-it-budget';
    const verify = (budget?: object) => ({
      provider: { kind: 'openai-chat', baseURL, apiKeyEnv: 'VS_IT_BUDGET_KEY' },
      // Dear tokens, so a record costs about a cent and a limit of a few cents bites.
      prices: { 'gpt-5-mini': { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 } },
      limits: { timeoutMs: 10_000 },
      images: { allowedRoots: [dir] },
      cache: { enabled: false }, // repeated records would be free
      concurrency: CONCURRENCY,
      ...(budget ? { budget: { recheckMs: 100, ...budget } } : {}),
    });
    const runtimes: KafkaRuntime[] = [];
    const writerKafka = testKafka();
    let writer: KafkaRecordWriter | undefined;
    try {
      // What each record costs with no limit (in memory, no broker).
      const calib = new TopologyTestDriver(valorTopology({ nodeConfig: { verify: verify() } }), { only: ['verify'], stores: new MemoryStoreProvider() });
      await calib.pipe(
        DEFAULT_TOPIC_NAMES.detectorProposals,
        proposals.map((p) => ({ key: p.queryId, value: p })),
      );
      const costs = (await calib.readAll<PseudoLabel>(DEFAULT_TOPIC_NAMES.pseudoLabels)).map((r) => r.value.usage.costUsd);
      await calib.close();
      const total = costs.reduce((a, b) => a + b, 0);
      const maxRecord = Math.max(...costs);
      const limit = total * 0.55; // what is left (under 45%) fits in the next hour

      const topics = testTopicNames(id);
      const topology = valorTopology({ partitions: 2, topics, nodeConfig: { verify: verify({ usdPerHour: limit }) } });
      await ensureTopics(writerKafka, topology);
      let now = Date.UTC(2026, 11, 1, 13, 50);
      const clock = { now: () => now };
      const metrics: StreamMetrics[] = [];
      for (let i = 0; i < INSTANCES; i++) {
        const m = new StreamMetrics(new Registry());
        metrics.push(m);
        const rt = new KafkaRuntime(topology, {
          kafka: testKafka(),
          registry: testRegistry(),
          logger: silentLogger,
          only: ['verify'],
          metrics: m,
          clock,
          storeTopicPrefix: `it.${id}.store.`,
          config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}`, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, maxInFlight: 4 }),
        });
        runtimes.push(rt);
        await rt.start();
      }
      const spent = () => runtimes.reduce((s, r) => s + providerTotals(r.resources).reduce((t, p) => t + p.costUsd, 0), 0);
      const processed = () => runtimes.reduce((s, r) => s + r.runners[0]!.stats.processed, 0);
      const paused = () => metrics.filter((m) => m.ready.get('node:verify:flowing')?.ok === false);
      // Both members own a partition before any record arrives.
      await until('two members with a partition each', () => runtimes.every((r) => (r.runners[0] as unknown as { assigned: Set<number> }).assigned.size === 1));

      writer = new KafkaRecordWriter(writerKafka, serdesFor(topology, testRegistry()));
      await writer.write(
        topics.detectorProposals,
        proposals.map((p) => ({ key: p.queryId, value: p })),
      );
      await until('the limit is reached and the node pauses', () => spent() >= limit && paused().length > 0);
      // Quiet: no call for a second.
      for (let calls = -1; calls !== server.faults.counters.requests; await sleep(1_000)) calls = server.faults.counters.requests;
      const atPause = spent();
      expect(atPause).toBeGreaterThanOrEqual(limit);
      expect(atPause).toBeLessThanOrEqual(limit + INSTANCES * CONCURRENCY * maxRecord + 1e-9);
      expect(processed()).toBeLessThan(proposals.length);
      expect(paused()[0]!.ready.get('node:verify:flowing')!.reason).toMatch(
        /budget: \$\d+\.\d+ of \$\d+\.\d+ per hour spent; resumes at 2026-12-01T14:00:00\.000Z/,
      );
      expect(runtimes.map((r) => r.runners[0]!.stats.deadLettered)).toEqual([0, 0]);

      now += HOUR; // the window rolls over
      await until('every record verified after the hour', () => processed() === proposals.length);
      expect(runtimes.map((r) => r.runners[0]!.stats.deadLettered)).toEqual([0, 0]);
      expect(spent()).toBeCloseTo(total, 6);
      await until('flowing again', () => paused().length === 0);
    } finally {
      await writer?.close();
      for (const r of runtimes) await r.stop();
      await server.close();
      delete process.env.VS_IT_BUDGET_KEY;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 420_000);
});
