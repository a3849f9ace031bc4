// The verify node on the real broker: simulated low-threshold proposals for a synthetic
// corpus go in, pseudo-labels come out, and their quality against the ground truth is
// printed before and after verification. A replay under a new consumer group, in a fresh
// runtime, reads the verdict cache from its compacted topic and calls the provider zero times.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatQuality, labelQuality, readGroundTruth } from '../../evaluation/label-quality';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../../evaluation/synthetic-proposals';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { silentLogger } from '../../core/logger';
import type { PseudoLabel, VerifierJudgement } from '../../schemas/generated/types';
import { FakeOpenAIServer } from '../fakes/fake-openai-server';
import { VerifierOracle } from '../fakes/verifier-oracle';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { readTopic, runId, testKafka, testRegistry, testTopicNames } from './services';

jest.setTimeout(300_000);

describe('verification stage on the real broker', () => {
  it('turns proposals into pseudo-labels with known precision/recall, and a replay costs no calls', async () => {
    const id = runId();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-verify-'));
    const corpus = await generateSyntheticCorpus({ outDir: dir, count: 24, seed: 21 });
    const proposals = simulatedProposalRecords(corpus.groundTruthFile, { seed: 3 });
    const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
    // Some latency and 500s, so the run also exercises retries on the broker.
    const server = new FakeOpenAIServer({ oracle: oracle.answer, faults: { latencyMs: 20, errorRate: 0.05, seed: 2 } });
    const baseURL = await server.start();
    process.env.VS_IT_VERIFY_KEY = 'sk-it-verify';

    const t = (k: string) => `it.${id}.${k}`;
    const topology = valorTopology({
      partitions: 3,
      topics: testTopicNames(id),
      nodeConfig: {
        verify: {
          provider: { kind: 'openai-responses', baseURL, apiKeyEnv: 'VS_IT_VERIFY_KEY' },
          limits: { timeoutMs: 5_000, backoff: { initialDelayMs: 10, maxDelayMs: 100 } },
          images: { allowedRoots: [dir] },
        },
      },
    });
    const kafka = testKafka();
    const registry = testRegistry();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(registry, (x) => topicByName(topology, x).type);
    const writer = new KafkaRecordWriter(kafka, serdes);
    await writer.write(
      t('prop'),
      proposals.map((p) => ({ key: p.queryId, value: p })),
    );
    await writer.close();

    const runOnce = async (group: string) => {
      const runtime = new KafkaRuntime(topology, {
        kafka,
        registry,
        logger: silentLogger,
        only: ['verify'],
        storeTopicPrefix: t('store.'),
        config: kafkaRuntimeSchema.parse({ groupPrefix: group }),
      });
      await runtime.start();
      return runtime;
    };

    const first = await runOnce(`g.${id}.a`);
    const labelsRaw = await readTopic(kafka, t('pl'), proposals.length);
    await first.stop();
    const labels = await Promise.all(labelsRaw.map((m) => serdes.for<PseudoLabel>(t('pl')).decode(m.value)));
    expect(labels).toHaveLength(proposals.length);
    expect(new Set(labels.map((l) => l.proposalsId)).size).toBe(proposals.length);
    const calls = server.faults.counters.served;
    expect(calls).toBe(labels.reduce((s, l) => s + l.usage.calls, 0));

    const truth = readGroundTruth(corpus.groundTruthFile);
    const byId = new Map(proposals.map((p) => [p.id, p]));
    const before = labelQuality(
      labels.map((l) => ({ boxes: byId.get(l.proposalsId)!.boxes, phrases: byId.get(l.proposalsId)!.phrases, truth: truth.get(l.queryId)! })),
    );
    const after = labelQuality(labels.map((l) => ({ boxes: l.accepted, phrases: byId.get(l.proposalsId)!.phrases, truth: truth.get(l.queryId)! })));
    console.log(`kafka: ${formatQuality('proposals (before verification)', before)}\nkafka: ${formatQuality('pseudo-labels (after verification)', after)}`);
    expect(after.precision).toBeGreaterThan(before.precision);
    expect(after.precision).toBeGreaterThanOrEqual(0.95);
    expect(after.recall).toBeGreaterThanOrEqual(0.9);

    // Replay: a new group reads the retained proposals again; a fresh runtime loads the cache.
    const replay = await runOnce(`g.${id}.b`);
    const again = await readTopic(kafka, t('pl'), proposals.length * 2);
    await replay.stop();
    expect(again).toHaveLength(proposals.length * 2);
    expect(server.faults.counters.served).toBe(calls);
    const perRun = labels.reduce((s, l) => s + l.lineage.parents.length - 2, 0); // parents: proposals, query, judgements
    const judgements = await readTopic(kafka, t('vj'), perRun * 2);
    expect(judgements).toHaveLength(perRun * 2);
    const decoded = await Promise.all(judgements.map((m) => serdes.for<VerifierJudgement>(t('vj')).decode(m.value)));
    expect(decoded.filter((j) => j.cached).length).toBe(decoded.length / 2);
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
