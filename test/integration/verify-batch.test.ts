// The verify node in batch mode on the real broker, run as an operator runs it (`run --only
// verify` in a child process) against the fake OpenAI Batch API, and killed with SIGKILL
// five times while batches are out. Afterwards every proposal set has exactly one
// pseudo-label (read_committed), with the same decisions as the synchronous path, and the
// fake saw every request submitted in exactly one batch. While batches were out, the input
// offsets were committed to the end before the last labels were written.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemoryStoreProvider } from '../../core/store';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../../evaluation/synthetic-proposals';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { readTopicFrom } from '../../runtime/kafka/topic-reader';
import { serdesFor } from '../../runtime/serde/topic-serde';
import type { PseudoLabel } from '../../schemas/generated/types';
import { DEFAULT_TOPIC_NAMES } from '../../topology/topics';
import { valorTopology } from '../../topology/valor-topology';
import { FakeOpenAIServer } from '../fakes/fake-openai-server';
import { VerifierOracle } from '../fakes/verifier-oracle';
import { TopologyTestDriver } from '../harness/topology-test-driver';
import { runId, services, testKafka, testRegistry, testTopicNames } from './services';

const BIN = path.join(__dirname, '..', '..', 'bin', 'valor-stream.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KILLS = 5;

/** What a label decided: accepted boxes and negatives with their stage, comparable across runs. */
const decisions = (l: PseudoLabel) =>
  JSON.stringify({
    accepted: l.accepted.map((b) => [b.label, Math.round(b.x1), Math.round(b.y1)]),
    negatives: l.negatives.map((n) => [n.box.label, Math.round(n.box.x1), Math.round(n.box.y1), n.rejectedAt]),
  });

describe('verify in batch mode on the broker', () => {
  it('survives five SIGKILLs with batches out: one pseudo-label per record, every request submitted once', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-batch-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 10, seed: 31 });
    const proposals = simulatedProposalRecords(corpus.groundTruthFile, { seed: 6 });
    const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
    // Batches take 2.5 s: kills land while they are out.
    const server = new FakeOpenAIServer({ oracle: oracle.answer, batch: { completeAfterMs: 2_500 } });
    const baseURL = await server.start();
    process.env.VS_IT_BATCH_KEY = 'sk-it-batch';
    const provider = { kind: 'openai-responses', baseURL, apiKeyEnv: 'VS_IT_BATCH_KEY' };
    const sync = { provider, images: { allowedRoots: [dir] } };
    const batch = { ...sync, mode: 'batch', batch: { flushAfterMs: 300, pollEveryMs: 300, recheckMs: 200, submitGraceMs: 1_000 } };
    const topics = testTopicNames(id);
    const topology = valorTopology({ partitions: 2, topics, nodeConfig: { verify: batch } });
    const kafka = testKafka();
    const admin = kafka.admin();
    let child: ChildProcess | undefined;
    try {
      // The synchronous path's decisions, in memory.
      const d = new TopologyTestDriver(valorTopology({ nodeConfig: { verify: sync } }), { only: ['verify'], stores: new MemoryStoreProvider() });
      await d.pipe(
        DEFAULT_TOPIC_NAMES.detectorProposals,
        proposals.map((p) => ({ key: p.queryId, value: p })),
      );
      const expected = new Map((await d.readAll<PseudoLabel>(DEFAULT_TOPIC_NAMES.pseudoLabels)).map((r) => [r.value.proposalsId, decisions(r.value)]));
      await d.close();
      const syncCalls = server.requests.length;

      await ensureTopics(kafka, topology);
      const writer = new KafkaRecordWriter(kafka, serdesFor(topology, testRegistry()));
      await writer.write(
        topics.detectorProposals,
        proposals.map((p) => ({ key: p.queryId, value: p })),
      );
      await writer.close();

      const config = path.join(dir, 'c.json');
      fs.writeFileSync(
        config,
        JSON.stringify({
          runtime: 'kafka',
          partitions: 2,
          topics,
          delivery: { groupPrefix: `g.${id}`, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000 },
          stores: { topicPrefix: `it.${id}.store.` },
          nodes: { verify: batch },
        }),
      );
      const env = { ...process.env, KAFKA_BOOTSTRAP: bootstrap, SCHEMA_REGISTRY_URL: registryUrl, VALOR_LOG_LEVEL: 'warn' };
      let stderr = '';
      const start = () => {
        child = spawn('node', [BIN, 'run', '-c', config, '--only', 'verify'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        child.stderr!.on('data', (x) => (stderr += x));
        return new Promise<number | null>((r) => child!.on('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
      };
      const labels = new Map<string, PseudoLabel[]>();
      const serdes = serdesFor(topology, testRegistry());
      const readLabels = async () => {
        labels.clear();
        await readTopicFrom(kafka, topics.pseudoLabels, {
          from: { kind: 'beginning' },
          onMessage: async (_, m) => {
            const l = (await serdes.for(topics.pseudoLabels).decode(m.value!)) as PseudoLabel;
            labels.set(l.proposalsId, [...(labels.get(l.proposalsId) ?? []), l]);
          },
        });
      };
      // Offsets move on while batches are out: the records wait in the node's state, not in the partition.
      await admin.connect();
      let committedAhead = false;
      // One past each partition's last record (the topic may end in a transaction marker).
      const ends = new Map<number, bigint>();
      await readTopicFrom(kafka, topics.detectorProposals, { from: { kind: 'beginning' }, onMessage: (p, m) => void ends.set(p, BigInt(m.offset) + 1n) });
      const allCommitted = async () => {
        const [c] = await admin.fetchOffsets({ groupId: `g.${id}.verify`, topics: [topics.detectorProposals] });
        return [...ends].every(([p, end]) => BigInt(c!.partitions.find((x) => x.partition === p)?.offset ?? '-1') >= end);
      };
      for (let k = 0; k < KILLS; k++) {
        const exited = start();
        const created = server.batches.counters.created;
        // Killed once a new batch is out (or after 20 s, whatever it was doing).
        for (const t0 = Date.now(); server.batches.counters.created === created && Date.now() - t0 < 20_000;) await sleep(100);
        await sleep(300 + 400 * k);
        child!.kill('SIGKILL');
        await exited;
        await readLabels();
        if (!committedAhead && (await allCommitted())) committedAhead = labels.size < proposals.length;
      }
      const exited = start();
      for (const t0 = Date.now(); ; await sleep(1_000)) {
        await readLabels();
        if (labels.size === proposals.length) break;
        if (!committedAhead && (await allCommitted())) committedAhead = labels.size < proposals.length;
        if (Date.now() - t0 > 240_000) throw new Error(`${labels.size} of ${proposals.length} labelled after the kills; stderr: ${stderr.slice(-2000)}`);
      }
      child!.kill('SIGTERM');
      await exited;
      await readLabels();
      expect(committedAhead).toBe(true);

      expect([...labels.values()].map((ls) => ls.length)).toEqual(proposals.map(() => 1));
      for (const p of proposals) expect([p.id, decisions(labels.get(p.id)![0]!)]).toEqual([p.id, expected.get(p.id)]);
      expect(server.requests.length).toBe(syncCalls); // no synchronous call in batch mode
      const submissions = [...server.batchSubmissions.values()];
      expect(submissions.length).toBeGreaterThan(proposals.length); // stages 1, 2 and 3
      expect(submissions.every((n) => n === 1)).toBe(true);
      // Half price: every label's calls were billed at the batch rate.
      expect([...labels.values()].every(([l]) => l!.usage.calls > 0 && l!.usage.costUsd > 0)).toBe(true);
    } finally {
      child?.kill('SIGKILL');
      await admin.disconnect().catch(() => undefined);
      await server.close();
      delete process.env.VS_IT_BATCH_KEY;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
