// `valor-stream replay` on the real broker, spawned as an operator runs it. The verify node
// ran live over the first records (their verdicts are cached); more records arrived after.
// A replay from a time in the middle of the topic reprocesses exactly the records at or
// after it, exits at the end offsets, leaves the live group's offsets alone and tags its
// outputs; its --dry-run predicted the provider calls it then makes on this partly cached
// topic; a second replay over the same records makes none.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../../core/logger';
import { replayTagOf } from '../../core/lineage';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../../evaluation/synthetic-proposals';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { readTopicFrom } from '../../runtime/kafka/topic-reader';
import { serdesFor } from '../../runtime/serde/topic-serde';
import type { PseudoLabel, VerifierJudgement } from '../../schemas/generated/types';
import { valorTopology } from '../../topology/valor-topology';
import { FakeOpenAIServer } from '../fakes/fake-openai-server';
import { VerifierOracle } from '../fakes/verifier-oracle';
import { runId, services, testKafka, testRegistry, testTopicNames } from './services';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'valor-stream.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A verifier that keeps every box at every stage, so every cascade runs all its stages. */
const keepAll = async (req: { text: string }) =>
  VerifierOracle.stageOf(req.text) === 'crop'
    ? JSON.stringify({ keep: true, reason: 'looks right' })
    : JSON.stringify({ keep_indices: Array.from({ length: 64 }, (_, i) => i + 1), drop_indices: [], notes: [] });

interface DryRun {
  records: number;
  partitions: Array<{ partition: number; records: number }>;
  estimate: { calls: { cached: number; certain: number; expected: number; min: number; max: number }; usd: number | null };
}

describe('replay on the broker', () => {
  it('reprocesses from a time to the end, tags outputs, keeps the live group, and its dry run predicts the calls', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-replay-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 12, seed: 77 });
    const proposals = simulatedProposalRecords(corpus.groundTruthFile, { seed: 5 }).slice(0, 12);
    expect(proposals).toHaveLength(12);
    const server = new FakeOpenAIServer({ oracle: keepAll });
    const baseURL = await server.start();
    const topics = testTopicNames(id);
    const groupPrefix = `g.${id}`;
    const storePrefix = `it.${id}.store.`;
    const verify = {
      provider: { kind: 'openai-responses', baseURL, apiKeyEnv: 'VS_IT_REPLAY_KEY' },
      limits: { timeoutMs: 10_000, maxAttempts: 2, backoff: { initialDelayMs: 10, maxDelayMs: 50 } },
      images: { allowedRoots: [dir] },
    };
    process.env.VS_IT_REPLAY_KEY = 'sk-it-replay';
    const topology = valorTopology({ partitions: 2, topics, nodeConfig: { verify } });
    const kafka = testKafka();
    const writer = new KafkaRecordWriter(kafka, serdesFor(topology, testRegistry()));
    const write = (ps: typeof proposals) =>
      writer.write(
        topics.detectorProposals,
        ps.map((p) => ({ key: p.queryId, value: p })),
      );

    const config = path.join(dir, 'c.json');
    fs.writeFileSync(
      config,
      JSON.stringify({ runtime: 'kafka', partitions: 2, topics, delivery: { groupPrefix }, stores: { topicPrefix: storePrefix }, nodes: { verify } }),
    );
    const env = { ...process.env, KAFKA_BOOTSTRAP: bootstrap, SCHEMA_REGISTRY_URL: registryUrl, VALOR_LOG_LEVEL: 'warn' };
    const cli = async (...args: string[]) =>
      (await run('node', [BIN, 'replay', '--node', 'verify', ...args, '-c', config], { env, timeout: 300_000, maxBuffer: 64 << 20 })).stdout;

    const admin = kafka.admin();
    await admin.connect();
    const liveOffsets = async () =>
      (await admin.fetchOffsets({ groupId: `${groupPrefix}.verify`, topics: [topics.detectorProposals] }))[0]!.partitions
        .map((p) => `${p.partition}:${p.offset}`)
        .sort();
    await ensureTopics(kafka, topology);
    try {
      // The live node verifies records 0-5; the time T falls between records 2 and 3.
      await write(proposals.slice(0, 3));
      await sleep(1_500);
      const T = new Date().toISOString();
      await sleep(1_500);
      await write(proposals.slice(3, 6));
      const live = new KafkaRuntime(topology, {
        kafka,
        registry: testRegistry(),
        logger: silentLogger,
        only: ['verify'],
        storeTopicPrefix: storePrefix,
        config: kafkaRuntimeSchema.parse({ groupPrefix, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 }),
      });
      await live.start();
      try {
        for (const t0 = Date.now(); live.runners[0]!.stats.processed < 6; await sleep(200)) {
          if (Date.now() - t0 > 180_000) throw new Error(`the live verify node processed ${live.runners[0]!.stats.processed} of 6 records`);
        }
      } finally {
        await live.stop();
      }
      // Records 6-11 arrive while the node is down: their verdicts are not cached.
      await write(proposals.slice(6));
      const before = await liveOffsets();
      const callsBefore = server.requests.length;

      const dry = JSON.parse(await cli('--from', T, '--tag', 'prompts-v2', '--dry-run', '--json')) as DryRun;
      expect(dry.records).toBe(9);
      expect(dry.partitions.reduce((s, p) => s + p.records, 0)).toBe(9);
      expect(server.requests.length).toBe(callsBefore); // a dry run calls no one
      expect(dry.estimate.calls.cached).toBeGreaterThan(0); // records 3-5
      expect(dry.estimate.usd).not.toBeNull(); // priced by the live run's judgements

      const text = await cli('--from', T, '--tag', 'prompts-v2', '--dry-run');
      expect(text).toMatch(/records to reprocess: 9\n/);
      expect(text).toMatch(/provider calls: \d+ expected/);
      const report = JSON.parse(await cli('--from', T, '--tag', 'prompts-v2', '--json')) as { processed: number; providerCalls: number; group: string };
      const made = server.requests.length - callsBefore;
      expect(report.processed).toBe(9);
      expect(report.group).toBe(`${groupPrefix}.verify.replay.prompts-v2`);
      expect(report.providerCalls).toBe(made);
      // The dry run's estimate is the calls the replay made (keep rates learnt from the cache hold here).
      expect(Math.round(dry.estimate.calls.expected)).toBe(made);
      expect(made).toBeGreaterThanOrEqual(dry.estimate.calls.min);
      expect(made).toBeLessThanOrEqual(dry.estimate.calls.max);
      expect(await liveOffsets()).toEqual(before);

      // Tagged outputs: exactly the records at or after T, and every judgement's call accounted for.
      const labels: PseudoLabel[] = [];
      const judgements: VerifierJudgement[] = [];
      const serdes = serdesFor(topology, testRegistry());
      for (const [topic, into] of [
        [topics.pseudoLabels, labels],
        [topics.verifierJudgements, judgements],
      ] as const) {
        await readTopicFrom(kafka, topic, {
          from: { kind: 'beginning' },
          onMessage: async (_, m) => void (into as unknown[]).push(await serdes.for(topic).decode(m.value!)),
        });
      }
      const tagged = labels.filter((l) => replayTagOf(l) === 'prompts-v2');
      expect(tagged.map((l) => l.proposalsId).sort()).toEqual(
        proposals
          .slice(3)
          .map((p) => p.id)
          .sort(),
      );
      expect(labels.filter((l) => replayTagOf(l) === null)).toHaveLength(6);
      const stageCalls = judgements.filter((j) => replayTagOf(j) === 'prompts-v2').reduce((s, j) => s + (j.stage === 'CROP' ? j.verdicts.length : 1), 0);
      expect(dry.estimate.calls.cached + made).toBe(stageCalls);

      // The same tag again is refused; a new tag over the same records is all cache hits.
      await expect(cli('--from', T, '--tag', 'prompts-v2')).rejects.toThrow(/already has committed offsets/);
      const dry2 = JSON.parse(await cli('--from', T, '--tag', 'again', '--dry-run', '--json')) as DryRun;
      expect(dry2.estimate.calls.expected).toBe(0);
      const callsBefore2 = server.requests.length;
      const report2 = JSON.parse(await cli('--from', T, '--tag', 'again', '--json')) as { processed: number; providerCalls: number };
      expect(report2.processed).toBe(9);
      expect(report2.providerCalls).toBe(0);
      expect(server.requests.length).toBe(callsBefore2);
      expect(await liveOffsets()).toEqual(before);
    } finally {
      await writer.close();
      await admin.disconnect();
      await server.close();
      delete process.env.VS_IT_REPLAY_KEY;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
