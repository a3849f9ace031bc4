// The verify node under a spending limit, driven through the TopologyTestDriver against the
// fake OpenAI server: it pauses (nothing dead-lettered) within the in-flight records' cost
// of the limit, resumes when the test clock passes the hour, and counts spend shared by
// two instances and across a restart. Limits are 60% of the records' cost, so what is left
// fits in the next hour's budget.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { MemoryStoreProvider, StoreProvider } from '../core/store';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../evaluation/synthetic-proposals';
import { StreamMetrics } from '../runtime/metrics/stream-metrics';
import { FileStoreProvider } from '../runtime/state/file-store';
import type { DetectorProposals, PseudoLabel } from '../schemas/generated/types';
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { VerifierOracle } from '../test/fakes/verifier-oracle';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { DEFAULT_TOPIC_NAMES as T } from '../topology/topics';
import { valorTopology } from '../topology/valor-topology';

const T0 = Date.UTC(2026, 11, 1, 13, 40); // the hour window ends at 14:00 UTC
const TO_NEXT_HOUR = 20 * 60_000 + 1_000;
const CONCURRENCY = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('verify processor under a spending limit', () => {
  let dir: string;
  let proposals: DetectorProposals[];
  let server: FakeOpenAIServer;
  let baseURL: string;
  /** Cost of every record, and of the costliest, with no limit. */
  let total: number;
  let maxRecord: number;

  const nodeConfig = (budget?: object) => ({
    provider: { kind: 'openai-chat', baseURL, apiKeyEnv: 'VS_BUDGET_KEY' },
    // Dear tokens, so each record costs about a cent and a limit of a few cents bites.
    prices: { 'gpt-5-mini': { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 } },
    limits: { timeoutMs: 2_000 },
    images: { allowedRoots: [dir] },
    // The verdict cache would make repeated records free.
    cache: { enabled: false },
    concurrency: CONCURRENCY,
    ...(budget ? { budget: { recheckMs: 20, ...budget } } : {}),
  });

  function driver(stores: StoreProvider, budget?: object) {
    const metrics = new StreamMetrics(new Registry());
    const d = new TopologyTestDriver(valorTopology({ nodeConfig: { verify: nodeConfig(budget) } }), {
      only: ['verify'],
      stores,
      metrics,
      initialWallClockTime: T0,
    });
    const flowing = () => metrics.ready.get('node:verify:flowing');
    return { d, flowing };
  }

  const pipe = (d: TopologyTestDriver, input: DetectorProposals[]) =>
    d.pipe(
      T.detectorProposals,
      input.map((p) => ({ key: p.queryId, value: p })),
    );
  const labels = async (d: TopologyTestDriver) => (await d.readAll<PseudoLabel>(T.pseudoLabels)).map((r) => r.value);
  /** Every instance's spend this hour, as the store holds it. */
  async function spentThisHour(stores: StoreProvider): Promise<number> {
    const store = await stores.open('budget', 'BudgetSpend');
    let sum = 0;
    for (const k of store.keys('verify|hour|2026-12-01T13|')) sum += (await store.get(k))!.usd;
    return sum;
  }
  /** Polls (real time, bounded) until `cond` holds. */
  async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await sleep(10);
    }
  }
  /** Waits until in-flight records are done: no call for 300 ms. */
  async function quiet(): Promise<void> {
    let calls = server.faults.counters.requests;
    for (let i = 0; ; i++) {
      await sleep(300);
      if (server.faults.counters.requests === calls) return;
      if (i > 50) throw new Error('calls went on while paused');
      calls = server.faults.counters.requests;
    }
  }
  async function pausedAndQuiet(flowing: () => { ok: boolean } | undefined): Promise<void> {
    await until(() => flowing()?.ok === false, 'the node pauses');
    await quiet();
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-budget-'));
    const corpus = await generateSyntheticCorpus({ outDir: dir, count: 10, seed: 5 });
    proposals = simulatedProposalRecords(corpus.groundTruthFile, { seed: 4 });
    const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
    server = new FakeOpenAIServer({ oracle: oracle.answer });
    baseURL = await server.start();
    process.env.VS_BUDGET_KEY = 'sk-budget';
    const { d } = driver(new MemoryStoreProvider());
    await pipe(d, proposals);
    const costs = (await labels(d)).map((l) => l.usage.costUsd);
    await d.close();
    total = costs.reduce((a, b) => a + b, 0);
    maxRecord = Math.max(...costs);
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('costs enough per record for a limit of a few cents to bite', () => {
    expect(proposals.length).toBeGreaterThanOrEqual(8);
    expect(maxRecord).toBeGreaterThan(0.002);
    expect(total).toBeGreaterThan(0.03);
    expect(total).toBeLessThan(0.2);
  });

  it('pauses within the in-flight records of the limit, drops nothing, and resumes after the hour', async () => {
    const stores = new FileStoreProvider(path.join(dir, 'state-single'));
    const limit = total * 0.6;
    const { d, flowing } = driver(stores, { usdPerHour: limit });
    const piping = pipe(d, proposals);
    await pausedAndQuiet(flowing);
    expect(flowing()!.reason).toMatch(/^paused: budget: \$0\.\d{4} of \$0\.\d{4} per hour spent; resumes at 2026-12-01T14:00:00\.000Z$/);
    const spent = await spentThisHour(stores);
    expect(spent).toBeGreaterThanOrEqual(limit);
    expect(spent).toBeLessThanOrEqual(limit + CONCURRENCY * maxRecord + 1e-9);
    expect(spent).toBeLessThan(total);

    d.clock.advance(TO_NEXT_HOUR);
    await piping;
    expect(flowing()!.ok).toBe(true);
    expect(await d.deadLetters()).toEqual([]);
    expect(new Set((await labels(d)).map((l) => l.proposalsId)).size).toBe(proposals.length);
    await d.close();
  });

  it('two instances sharing the budget respect the limit together', async () => {
    const stores = new MemoryStoreProvider();
    const limit = total * 0.6;
    const a = driver(stores, { usdPerHour: limit });
    const b = driver(stores, { usdPerHour: limit });
    const half = Math.ceil(proposals.length / 2);
    const finished = [false, false];
    const piping = [pipe(a.d, proposals.slice(0, half)), pipe(b.d, proposals.slice(half))].map((p, i) => p.then(() => (finished[i] = true)));
    await until(() => a.flowing()?.ok === false || b.flowing()?.ok === false, 'an instance pauses');
    await quiet();
    // An instance with records left is paused by the shared spend; one may have finished its share first.
    expect(finished).toContain(false);
    [a, b].forEach((x, i) => expect(finished[i] || x.flowing()!.ok === false).toBe(true));
    const spent = await spentThisHour(stores);
    expect(spent).toBeGreaterThanOrEqual(limit);
    // Each instance may finish what it had in flight when the shared limit was reached.
    expect(spent).toBeLessThanOrEqual(limit + 2 * CONCURRENCY * maxRecord + 1e-9);
    const store = await stores.open('budget', 'BudgetSpend');
    expect(store.keys('verify|hour|2026-12-01T13|')).toHaveLength(2);

    a.d.clock.advance(TO_NEXT_HOUR);
    b.d.clock.advance(TO_NEXT_HOUR);
    await Promise.all(piping);
    expect([a.flowing()!.ok, b.flowing()!.ok]).toEqual([true, true]);
    expect([...(await a.d.deadLetters()), ...(await b.d.deadLetters())]).toEqual([]);
    expect((await labels(a.d)).length + (await labels(b.d)).length).toBe(proposals.length);
    await Promise.all([a.d.close(), b.d.close()]);
  });

  it('a restarted node keeps what it spent before the restart', async () => {
    const stores = new FileStoreProvider(path.join(dir, 'state-restart'));
    const limit = total * 0.6;
    const { d, flowing } = driver(stores, { usdPerHour: limit });
    await pipe(d, proposals.slice(0, 3));
    expect(flowing()!.ok).toBe(true);
    const before = await spentThisHour(stores);
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(limit);

    await d.restart();
    const piping = pipe(d, proposals.slice(3));
    await pausedAndQuiet(flowing);
    const after = await spentThisHour(stores);
    expect(after).toBeGreaterThanOrEqual(limit);
    expect(after).toBeLessThanOrEqual(limit + CONCURRENCY * maxRecord + 1e-9);
    // The new process paused after spending only what the limit left it (plus its in-flight records).
    expect(after - before).toBeLessThanOrEqual(limit - before + CONCURRENCY * maxRecord + 1e-9);

    d.clock.advance(TO_NEXT_HOUR);
    await piping;
    expect(flowing()!.ok).toBe(true);
    expect(await d.deadLetters()).toEqual([]);
    expect(new Set((await labels(d)).map((l) => l.proposalsId)).size).toBe(proposals.length);
    await d.close();
  });
});
