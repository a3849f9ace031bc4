// The verify node against a misbehaving provider: 429 storms, 500s, hangs, malformed
// answers and an outage. Nothing may be lost or duplicated, and the labels must be the
// ones a healthy provider gives.
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstValueFrom, from, queueScheduler, toArray } from 'rxjs';
import { systemClock } from '../core/clock';
import { silentLogger } from '../core/logger';
import { MemoryStoreProvider } from '../core/store';
import { ChangelogState } from '../core/keyed-state';
import { SimpleFlowControl } from '../runtime/node-worker';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../evaluation/synthetic-proposals';
import { providerTotals } from '../models/llm/shared-providers';
import { Resources } from '../core/resources';
import type { DetectorProposals, PseudoLabel } from '../schemas/generated/types';
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { VerifierOracle } from '../test/fakes/verifier-oracle';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { DEFAULT_TOPIC_NAMES as T } from '../topology/topics';
import { valorTopology } from '../topology/valor-topology';
import { verify, verifyConfig } from './verify';

describe('verify processor under provider faults', () => {
  let dir: string;
  let proposals: DetectorProposals[];
  let server: FakeOpenAIServer;
  let baseURL: string;
  let healthy: Map<string, string>;

  const limits = {
    timeoutMs: 400,
    maxAttempts: 8,
    backoff: { initialDelayMs: 5, maxDelayMs: 40 },
    breaker: { failureThreshold: 4, cooldownMs: 100, maxCooldownMs: 200 },
  };
  const nodeConfig = () => ({
    provider: { kind: 'openai-chat', baseURL, apiKeyEnv: 'VS_FAULTS_KEY' },
    limits,
    images: { allowedRoots: [dir] },
    concurrency: 8,
  });
  const accepted = (labels: PseudoLabel[]) => new Map(labels.map((l) => [l.proposalsId, JSON.stringify(l.accepted)]));

  async function run(input = proposals) {
    const driver = new TopologyTestDriver(valorTopology({ nodeConfig: { verify: nodeConfig() } }), { only: ['verify'], stores: new MemoryStoreProvider() });
    await driver.pipe(
      T.detectorProposals,
      input.map((p) => ({ key: p.queryId, value: p })),
    );
    const labels = (await driver.readAll<PseudoLabel>(T.pseudoLabels)).map((r) => r.value);
    const totals = providerTotals(driver.runtime.resources);
    const dead = await driver.deadLetters();
    await driver.close();
    return { labels, dead, totals };
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-faults-'));
    const corpus = await generateSyntheticCorpus({ outDir: dir, count: 10, seed: 5 });
    proposals = simulatedProposalRecords(corpus.groundTruthFile, { seed: 4 });
    const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
    server = new FakeOpenAIServer({ oracle: oracle.answer });
    baseURL = await server.start();
    process.env.VS_FAULTS_KEY = 'sk-faults';
    healthy = accepted((await run()).labels);
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.faults.reset();
    server.faults.set({ errorRate: 0, hangRate: 0, malformedRate: 0, rateLimit: undefined, down: false });
  });

  const expectSameAsHealthy = (labels: PseudoLabel[]) => {
    expect(new Set(labels.map((l) => l.id)).size).toBe(labels.length);
    expect(labels).toHaveLength(proposals.length);
    expect(accepted(labels)).toEqual(healthy);
  };

  it('rides out a 429 storm with Retry-After', async () => {
    server.faults.startRateLimitStorm(25, 0.05);
    const { labels, dead, totals } = await run();
    expect(dead).toEqual([]);
    expectSameAsHealthy(labels);
    expect(server.faults.counters.byStatus[429]).toBe(25);
    expect(totals[0]!.rateLimitWaits).toBeGreaterThan(0);
  });

  it('retries 500s and hangs (per-call timeout) without losing or duplicating a label', async () => {
    server.faults.set({ errorRate: 0.2, hangRate: 0.05, seed: 9 });
    const { labels, dead } = await run();
    expect(dead).toEqual([]);
    expectSameAsHealthy(labels);
    expect(server.faults.counters.byStatus[500]).toBeGreaterThan(0);
    expect(server.faults.counters.hangs).toBeGreaterThan(0);
  });

  it('repairs malformed answers; a record is dead-lettered only when the repair is malformed too', async () => {
    server.faults.set({ malformedRate: 0.15, seed: 3 });
    const { labels, dead } = await run();
    expect(server.faults.counters.malformed).toBeGreaterThan(0);
    // Nothing lost: every input is a label or a dead letter with the raw answer.
    expect(labels.length + dead.length).toBe(proposals.length);
    for (const d of dead) expect(d.reason).toMatch(/still invalid after one repair retry.*raw answer: "/);
    for (const l of labels) expect(JSON.stringify(l.accepted)).toBe(healthy.get(l.proposalsId));
  });

  it('pauses consumption while the provider is down and resumes when it comes back', async () => {
    const flow = new SimpleFlowControl();
    const pauses: boolean[] = [];
    flow.paused$.subscribe((p) => pauses.push(p));
    const config = verifyConfig.parse(nodeConfig());
    const signal = new AbortController().signal;
    setMaxListeners(0, signal); // one listener per call in flight, as in the runtimes
    const resources = new Resources();
    const releases: Array<() => void | Promise<void>> = [];
    const op = verify.create(config, {
      node: 'verify',
      logger: silentLogger,
      clock: systemClock,
      scheduler: queueScheduler,
      flow,
      signal,
      stores: new MemoryStoreProvider(),
      state: new ChangelogState(),
      schedule: () => undefined,
      resources,
      onClose: (release) => void releases.push(release),
    });
    server.faults.setDown(true);
    setTimeout(() => server.faults.setDown(false), 600);
    const records = proposals.map((p, i) => ({
      key: p.queryId,
      value: p,
      origin: { topic: T.detectorProposals, partition: 0, offset: String(i) },
      timestamp: 0,
    }));
    const outcomes = await firstValueFrom(from(records).pipe(op, toArray()));
    expect(outcomes.filter((o) => o.failure)).toEqual([]);
    expect(outcomes).toHaveLength(proposals.length);
    expectSameAsHealthy(outcomes.flatMap((o) => o.outputs.filter((e) => e.port === 'labels').map((e) => e.value as PseudoLabel)));
    // Paused while the circuit was open, resumed after. On a slow machine a half-open probe can
    // still find the server down and open the circuit again: more pauses, never a stuck one.
    expect(pauses[0]).toBe(false);
    expect(pauses).toContain(true);
    expect(pauses.at(-1)).toBe(false);
    expect(pauses.every((p, i) => i === 0 || p !== pauses[i - 1])).toBe(true);
    expect(server.faults.counters.byStatus[503]).toBeGreaterThan(0);
    expect(providerTotals(resources)[0]!.breakerOpens).toBeGreaterThanOrEqual(1);
    // The close step drops the breaker subscription, as a stopping runtime would.
    expect(releases).toHaveLength(1);
    for (const release of releases) await release();
    await resources.closeAll();
  });
});
