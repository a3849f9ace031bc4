// Verifier throughput against a provider with 500 ms latency and a concurrency limit of 32
// calls: verified proposal sets per second, and the ratio to what the limit allows
// (32 calls / 0.5 s = 64 calls/s, divided by the calls each set needs). Also provider calls
// and tokens per pseudo-label. The provider is the fake OpenAI Responses server on
// 127.0.0.1 (real HTTP, real SDK) answering from the synthetic corpus's ground truth, in a
// child process of its own.
// Prints `name: value unit` lines.
import { fork } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { asyncScheduler, from, lastValueFrom, toArray } from 'rxjs';
import { systemClock } from '../core/clock';
import { silentLogger } from '../core/logger';
import { MemoryStoreProvider } from '../core/store';
import { ChangelogState } from '../core/keyed-state';
import { Resources } from '../core/resources';
import { SimpleFlowControl } from '../runtime/node-worker';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../evaluation/synthetic-proposals';
import { verify, verifyConfig } from '../processors/verify';
import type { PseudoLabel } from '../schemas/generated/types';

const SETS = Number(process.env.BENCH_SETS ?? 160);
const LATENCY_MS = Number(process.env.BENCH_PROVIDER_LATENCY_MS ?? 500);
const LIMIT = Number(process.env.BENCH_PROVIDER_CONCURRENCY ?? 32);

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-verify-'));
  const corpus = await generateSyntheticCorpus({ outDir: dir, count: SETS, seed: 3 });
  const proposals = simulatedProposalRecords(corpus.groundTruthFile, { seed: 1 });
  const child = fork(path.join(__dirname, 'fake-provider-process.js'), [corpus.groundTruthFile, String(LATENCY_MS)]);
  const baseURL = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { baseURL: string }) => resolve(m.baseURL));
    child.once('exit', (code) => reject(new Error(`fake provider exited with ${code}`)));
  });
  process.env.VALOR_BENCH_KEY = 'bench-key';

  const config = verifyConfig.parse({
    provider: { kind: 'openai-responses', baseURL, apiKeyEnv: 'VALOR_BENCH_KEY' },
    limits: { concurrency: LIMIT },
    // Enough sets in flight to keep every call slot busy between stages.
    concurrency: LIMIT * 2,
    images: { allowedRoots: [dir] },
  });
  const signal = new AbortController().signal;
  setMaxListeners(0, signal);
  const resources = new Resources();
  const releases: Array<() => void | Promise<void>> = [];
  const op = verify.create(config, {
    node: 'verify',
    logger: silentLogger,
    clock: systemClock,
    scheduler: asyncScheduler,
    flow: new SimpleFlowControl(),
    signal,
    stores: new MemoryStoreProvider(),
    state: new ChangelogState(),
    schedule: () => undefined,
    resources,
    onClose: (release) => void releases.push(release),
  });
  const records = proposals.map((p, i) => ({ key: p.queryId, value: p, origin: { topic: 'bench', partition: 0, offset: String(i) }, timestamp: 0 }));
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const outcomes = await lastValueFrom(from(records).pipe(op, toArray()));
  for (const release of releases) await release();
  await resources.closeAll();
  const secs = (performance.now() - t0) / 1000;
  const labels = outcomes.flatMap((o) => o.outputs.filter((e) => e.port === 'labels').map((e) => e.value as PseudoLabel));
  const failed = outcomes.filter((o) => o.failure).length;
  const calls = labels.reduce((s, l) => s + l.usage.calls, 0);
  const tokens = labels.reduce((s, l) => s + l.usage.inputTokens + l.usage.outputTokens, 0);
  const accepted = labels.reduce((s, l) => s + l.accepted.length, 0);
  const callsPerSet = calls / labels.length;
  const bound = LIMIT / (LATENCY_MS / 1000) / callsPerSet;
  const rate = labels.length / secs;

  console.log(`verify_provider_latency: ${LATENCY_MS} ms`);
  console.log(`verify_concurrency_limit: ${LIMIT} calls`);
  console.log(`verify_sets: ${labels.length} sets (${failed} failed)`);
  console.log(`verify_throughput: ${rate.toFixed(2)} sets/s`);
  console.log(`verify_bound_by_concurrency: ${bound.toFixed(2)} sets/s`);
  console.log(`verify_ratio_to_bound: ${(rate / bound).toFixed(2)}`);
  console.log(`verify_calls_per_set: ${callsPerSet.toFixed(2)} calls`);
  console.log(`verify_calls_per_pseudo_label: ${(calls / Math.max(1, accepted)).toFixed(2)} calls`);
  console.log(`verify_tokens_per_pseudo_label: ${(tokens / Math.max(1, accepted)).toFixed(0)} tokens`);
  console.log(`verify_cost_per_1k_pseudo_labels: ${((labels.reduce((s, l) => s + l.usage.costUsd, 0) / Math.max(1, accepted)) * 1000).toFixed(3)} usd`);
  console.log(`verify_rss_growth: ${((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0)} MiB`);
  child.disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
