// The verify node end to end in memory: the real openai SDK talks HTTP to a fake Responses
// server whose answers come from an oracle that knows the synthetic corpus's ground truth.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Counter, register } from 'prom-client';
import { MemoryStoreProvider } from '../core/store';
import { formatQuality, labelQuality, readGroundTruth } from '../evaluation/label-quality';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../evaluation/synthetic-proposals';
import { DEFAULT_PRICES } from '../models/llm/pricing';
import type { DetectorProposals, PseudoLabel, VerifierJudgement } from '../schemas/generated/types';
import { FakeGeminiServer } from '../test/fakes/fake-gemini-server';
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { VerifierOracle } from '../test/fakes/verifier-oracle';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { DEFAULT_TOPIC_NAMES as T } from '../topology/topics';
import { valorTopology } from '../topology/valor-topology';

const KEY = 'sk-test-verify-3f9a1c';

describe('verify processor', () => {
  let dir: string;
  let gtFile: string;
  let proposals: DetectorProposals[];
  let server: FakeOpenAIServer;
  let baseURL: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-verify-'));
    const corpus = await generateSyntheticCorpus({ outDir: dir, count: 8, seed: 11 });
    gtFile = corpus.groundTruthFile;
    proposals = simulatedProposalRecords(gtFile, { seed: 2 });
    const oracle = await VerifierOracle.fromGroundTruth(gtFile);
    server = new FakeOpenAIServer({ oracle: (r) => oracle.answer(r) });
    baseURL = await server.start();
    process.env.VS_VERIFY_TEST_KEY = KEY;
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.faults.reset();
  });

  const topology = (extra: Record<string, unknown> = {}) =>
    valorTopology({
      nodeConfig: {
        verify: {
          provider: { kind: 'openai-responses', baseURL, apiKeyEnv: 'VS_VERIFY_TEST_KEY' },
          limits: { timeoutMs: 5_000, backoff: { initialDelayMs: 5, maxDelayMs: 20 } },
          images: { allowedRoots: [dir] },
          ...extra,
        },
      },
    });

  async function run(stores: MemoryStoreProvider, extra?: Record<string, unknown>, input = proposals) {
    const driver = new TopologyTestDriver(topology(extra), { only: ['verify'], stores });
    await driver.pipe(
      T.detectorProposals,
      input.map((p) => ({ key: p.queryId, value: p })),
    );
    return {
      labels: (await driver.readAll<PseudoLabel>(T.pseudoLabels)).map((r) => r.value),
      judgements: (await driver.readAll<VerifierJudgement>(T.verifierJudgements)).map((r) => r.value),
      dead: await driver.deadLetters(),
      driver,
    };
  }

  it('labels every proposal set, with a judgement per stage that ran and the rejected boxes as hard negatives', async () => {
    const before = server.calls.length;
    const { labels, judgements, dead } = await run(new MemoryStoreProvider());
    expect(dead).toEqual([]);
    expect(labels).toHaveLength(proposals.length);
    const truth = readGroundTruth(gtFile);
    for (const l of labels) {
      const p = proposals.find((x) => x.id === l.proposalsId)!;
      // Nothing is lost: every proposed box is either accepted or a negative.
      expect(l.accepted.length + l.negatives.length).toBe(p.boxes.length);
      const stages = judgements.filter((j) => j.proposalsId === p.id).map((j) => j.stage);
      expect(stages.slice(0, 1)).toEqual(['COARSE']);
      if (l.accepted.length) expect(stages).toEqual(['COARSE', 'CROP', 'FINAL']);
      // Calls per set: 1 coarse + one per stage-1 survivor + 1 final (when anything survived the crops).
      const coarse = judgements.find((j) => j.proposalsId === p.id && j.stage === 'COARSE')!;
      const kept1 = coarse.verdicts.filter((v) => v.keep).length;
      const ranFinal = stages.includes('FINAL') ? 1 : 0;
      expect(l.usage.calls).toBe(1 + kept1 + ranFinal);
      for (const j of judgements.filter((x) => x.proposalsId === p.id)) {
        expect(j.verdicts.every((v) => v.boxIndex >= 1 && v.boxIndex <= p.boxes.length)).toBe(true);
        expect(j.promptHash).toMatch(/^[0-9a-f]{16}$/);
        expect(j.cached).toBe(false);
      }
      expect(l.negatives.every((n) => ['COARSE', 'CROP', 'FINAL'].includes(n.rejectedAt))).toBe(true);
      expect(truth.has(l.queryId)).toBe(true);
    }
    const calls = labels.reduce((s, l) => s + l.usage.calls, 0);
    expect(server.calls.length - before).toBe(calls);
    // Dollars follow the price table from the reported tokens.
    const usage = labels.reduce((s, l) => ({ i: s.i + l.usage.inputTokens, o: s.o + l.usage.outputTokens, c: s.c + l.usage.costUsd }), { i: 0, o: 0, c: 0 });
    const price = DEFAULT_PRICES['gpt-5-mini']!;
    expect(usage.c).toBeCloseTo((usage.i * price.inputPerMTokUsd + usage.o * price.outputPerMTokUsd) / 1e6, 9);

    const items = (boxesOf: (l: PseudoLabel) => PseudoLabel['accepted']) =>
      labels.map((l) => ({ boxes: boxesOf(l), phrases: proposals.find((p) => p.id === l.proposalsId)!.phrases, truth: truth.get(l.queryId)! }));
    const before_ = labelQuality(items((l) => proposals.find((p) => p.id === l.proposalsId)!.boxes));
    const after = labelQuality(items((l) => l.accepted));
    console.log(`${formatQuality('proposals (before verification)', before_)}\n${formatQuality('pseudo-labels (after verification)', after)}`);
    expect(before_.precision).toBeLessThan(0.6);
    expect(after.precision).toBeGreaterThanOrEqual(0.95);
    expect(after.recall).toBeGreaterThanOrEqual(0.9);
  });

  it('a replay with an unchanged config makes zero provider calls and writes the same labels', async () => {
    const stores = new MemoryStoreProvider();
    const lookups = async (result: string) =>
      ((await (register.getSingleMetric('valor_verdict_cache_lookups_total') as Counter<string>).get()).values ?? [])
        .filter((v) => v.labels.result === result)
        .reduce((n, v) => n + v.value, 0);
    const [hits0, misses0] = [await lookups('hit'), await lookups('miss')];
    const callsBefore = server.calls.length;
    const first = await run(stores);
    const calls = server.calls.length;
    const [hits1, misses1] = [await lookups('hit'), await lookups('miss')];
    const again = await run(stores);
    expect(server.calls.length).toBe(calls);
    // The cache-lookup metric tells the same story: one miss per call of the first run (the
    // oracle never needs a repair), then the replay hits as often and misses never.
    expect(misses1 - misses0).toBe(calls - callsBefore);
    expect(hits1 - hits0).toBe(0);
    expect(await lookups('miss')).toBe(misses1);
    expect((await lookups('hit')) - hits1).toBe(calls - callsBefore);
    expect(again.labels.map((l) => [l.id, l.accepted])).toEqual(first.labels.map((l) => [l.id, l.accepted]));
    expect(again.judgements.every((j) => j.cached && j.usage.calls === 0 && j.usage.costUsd === 0)).toBe(true);
    expect(again.labels.every((l) => l.usage.calls === 0)).toBe(true);
  });

  it('a new prompt misses the cache for its stage only', async () => {
    const stores = new MemoryStoreProvider();
    const first = await run(stores);
    const finalV2 = path.join(dir, 'final-v2.md');
    fs.writeFileSync(finalV2, fs.readFileSync(path.join(__dirname, '..', 'models', 'verifier', 'prompts', 'final-v1.md'), 'utf8') + '\nBe strict.\n');
    const calls = server.calls.length;
    const second = await run(stores, { prompts: { final: finalV2 } });
    const finals = first.judgements.filter((j) => j.stage === 'FINAL').length;
    expect(server.calls.length - calls).toBe(finals);
    expect(second.labels[0]!.verifierVersion).not.toBe(first.labels[0]!.verifierVersion);
    expect(second.judgements.filter((j) => j.stage !== 'FINAL').every((j) => j.cached)).toBe(true);
  });

  it('repairs one malformed answer, and dead-letters a record whose answer stays malformed, with the raw answer', async () => {
    server.faults.malformedNext(1);
    const once = await run(new MemoryStoreProvider(), {}, proposals.slice(0, 1));
    expect(once.dead).toEqual([]);
    expect(once.labels).toHaveLength(1);
    expect(once.judgements[0]!.usage.calls).toBe(2); // the answer and its repair

    server.faults.malformedNext(2);
    const twice = await run(new MemoryStoreProvider(), {}, proposals.slice(0, 2));
    expect(twice.labels).toHaveLength(1);
    expect(twice.dead).toHaveLength(1);
    expect(twice.dead[0]!.reason).toMatch(/stage COARSE: answer still invalid after one repair retry .*raw answer: /);
    expect(twice.dead[0]!.retriable).toBe(false);
    expect(twice.dead[0]!.source.topic).toBe(T.detectorProposals);
  });

  it('never writes the API key into records, dead letters or logs', async () => {
    server.faults.malformedNext(2);
    const { driver } = await run(new MemoryStoreProvider(), {}, proposals.slice(0, 3));
    for (const t of [T.pseudoLabels, T.verifierJudgements, T.deadLetters]) {
      const log = driver.runtime.log;
      for (let p = 0; p < log.partitions(t); p++) {
        const raw = log.read(t, p, 0, Number.MAX_SAFE_INTEGER).map((e) => e.value?.toString('latin1') ?? '');
        expect(raw.join('')).not.toContain(KEY);
      }
    }
    expect(server.calls.every((c) => c.authorization === `Bearer ${KEY}`)).toBe(true);
  });

  it('gives the same labels through Gemini on Vertex AI and through an OpenAI-compatible chat server', async () => {
    const reference = (await run(new MemoryStoreProvider())).labels.map((l) => [l.proposalsId, l.accepted]);
    const oracle = await VerifierOracle.fromGroundTruth(gtFile);
    const gemini = new FakeGeminiServer({ oracle: oracle.answer, requireToken: 'ya29.test-token' });
    const geminiURL = await gemini.start();
    process.env.VS_VERIFY_GCP_TOKEN = 'ya29.test-token';
    try {
      const viaGemini = await run(new MemoryStoreProvider(), {
        provider: { kind: 'gemini-vertex', project: 'test-project', location: 'europe-west4', baseURL: geminiURL, accessTokenEnv: 'VS_VERIFY_GCP_TOKEN' },
      });
      expect(viaGemini.dead).toEqual([]);
      expect(viaGemini.labels.map((l) => [l.proposalsId, l.accepted])).toEqual(reference);
      expect(viaGemini.judgements.every((j) => j.provider === 'gemini-vertex' && j.model === 'gemini-2.5-flash')).toBe(true);
      expect(gemini.calls.length).toBeGreaterThan(0);
      expect(gemini.calls.every((c) => c.project === 'test-project' && c.location === 'europe-west4' && c.images.length >= 1)).toBe(true);
      // Gemini prices differ from gpt-5-mini's: $0.30 / $2.50 per million tokens.
      const l = viaGemini.labels[0]!;
      expect(l.usage.costUsd).toBeCloseTo((l.usage.inputTokens * 0.3 + l.usage.outputTokens * 2.5) / 1e6, 9);
    } finally {
      await gemini.close();
    }
    const viaChat = await run(new MemoryStoreProvider(), { provider: { kind: 'openai-compatible', model: 'Qwen/Qwen2.5-VL-7B-Instruct', baseURL } });
    expect(viaChat.labels.map((l) => [l.proposalsId, l.accepted])).toEqual(reference);
    expect(server.calls.at(-1)!.endpoint).toBe('chat');
  });

  it('dead-letters proposals whose image changed since detection', async () => {
    const p = { ...proposals[0]!, image: { ...proposals[0]!.image, sha256: 'f'.repeat(64) } };
    const r = await run(new MemoryStoreProvider(), {}, [p]);
    expect(r.dead).toHaveLength(1);
    expect(r.dead[0]!.reason).toMatch(/content changed: sha256 is [0-9a-f]{64} but the record says f{64}/);
  });
});
