// The verify node driven directly (no runtime) over a list of proposal sets, by one of the
// paths of the cost benchmark: sync or batch mode, any config, against a fresh fake OpenAI
// server (so its prompt cache starts cold). Shared by bench/verify-cost.bench.ts and the
// test that every path reaches the same decisions (processors/verify.cost-paths.test.ts).
import { setMaxListeners } from 'node:events';
import { asyncScheduler, from, lastValueFrom, toArray } from 'rxjs';
import { systemClock } from '../core/clock';
import { ChangelogState } from '../core/keyed-state';
import { silentLogger } from '../core/logger';
import type { AnyProcessorSpec, Emit, InputRecord, ProcessorContext, Punctuator } from '../core/processor';
import { Resources } from '../core/resources';
import { MemoryStoreProvider } from '../core/store';
import { verify, verifyConfig } from '../processors/verify';
import { verifyBatch } from '../processors/verify-batch';
import { SimpleFlowControl } from '../runtime/node-worker';
import type { DetectorProposals, PseudoLabel } from '../schemas/generated/types';
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import type { VerifierOracle } from '../test/fakes/verifier-oracle';

export interface PathResult {
  name: string;
  labels: PseudoLabel[];
  seconds: number;
  /** Flex calls refused ("resource unavailable") and made again on the default tier. */
  fallbacks: number;
}

export interface PathOptions {
  latencyMs?: number;
  /** Share of flex requests the fake refuses. */
  flexUnavailable?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `proposals` through the verify node configured with `over` (on top of a fake provider). */
export async function runVerifyPath(
  name: string,
  proposals: DetectorProposals[],
  oracle: VerifierOracle,
  imageRoot: string,
  over: Record<string, unknown>,
  o: PathOptions = {},
): Promise<PathResult> {
  const flex = (over.provider as { serviceTier?: string } | undefined)?.serviceTier === 'flex';
  const server = new FakeOpenAIServer({
    oracle: oracle.answer,
    latencyMs: o.latencyMs ?? 0,
    flex: { unavailableRate: o.flexUnavailable ?? 0.1, seed: 7 },
    batch: { completeAfterMs: 400 },
  });
  const baseURL = await server.start();
  process.env.VALOR_PATH_KEY = 'path-key';
  try {
    const { provider, ...rest } = over as { provider?: Record<string, unknown> };
    const config = verifyConfig.parse({
      provider: { kind: 'openai-responses', baseURL, apiKeyEnv: 'VALOR_PATH_KEY', ...(flex ? { flexFallbackAfterMs: 50 } : {}), ...provider },
      limits: { concurrency: 32 },
      images: { allowedRoots: [imageRoot] },
      batch: { flushAfterMs: 50, pollEveryMs: 100, recheckMs: 50 },
      ...rest,
    });
    const spec = config.mode === 'batch' ? verifyBatch : verify;
    const records = proposals.map((p, i) => ({ key: p.queryId, value: p, origin: { topic: 'bench', partition: 0, offset: String(i) }, timestamp: 0 }));
    const t0 = performance.now();
    const { emits } = await driveProcessor(name, spec as AnyProcessorSpec, config, 'verify', records);
    const seconds = (performance.now() - t0) / 1000;
    return {
      name,
      labels: emits.filter((e) => e.port === 'labels').map((e) => e.value as PseudoLabel),
      seconds,
      fallbacks: server.serviceTiers.flexUnavailable,
    };
  } finally {
    await server.close();
  }
}

/**
 * Runs `records` (partition 0) through a processor with no runtime, then calls its
 * punctuation until nothing is parked in its state (batch mode: records finish as batch
 * results come in). Throws when a record fails. Returns the outputs and how many records
 * were parked once the input was through.
 */
export async function driveProcessor(
  name: string,
  spec: AnyProcessorSpec,
  config: unknown,
  node: string,
  records: Array<InputRecord<unknown>>,
): Promise<{ emits: Emit[]; parkedAfterInput: number }> {
  const signal = new AbortController().signal;
  setMaxListeners(0, signal);
  const resources = new Resources();
  let punctuate: Punctuator | undefined;
  const state = new ChangelogState();
  state.restore(0, []); // a fresh partition: nothing parked yet
  const ctx: ProcessorContext = {
    node,
    logger: silentLogger,
    clock: systemClock,
    scheduler: asyncScheduler,
    flow: new SimpleFlowControl(),
    onClose: () => undefined,
    signal,
    stores: new MemoryStoreProvider(),
    state,
    resources,
    schedule: (_ms, p) => void (punctuate = p),
  };
  try {
    const outcomes = await lastValueFrom(from(records).pipe(spec.create(config, ctx), toArray()));
    const emits: Emit[] = outcomes.flatMap((x) => x.outputs);
    const failed = outcomes.filter((x) => x.failure);
    if (failed.length) throw new Error(`${name}: ${failed.length} records failed: ${String(failed[0]!.failure!.error)}`);
    const parkedAfterInput = state.entries(0).length;
    for (let i = 0; punctuate && state.entries(0).length > 0; i++) {
      if (i > 3_000) throw new Error(`${name}: records still waiting for batches`);
      await sleep(20);
      const r = await punctuate(0, Date.now());
      emits.push(...(Array.isArray(r) ? r : r.emits));
      if (!Array.isArray(r) && r.failures.length) throw new Error(`${name}: ${String(r.failures[0]!.error)}`);
    }
    return { emits, parkedAfterInput };
  } finally {
    await resources.closeAll();
  }
}

/** What a pseudo-label decided (accepted boxes, negatives and their stage), comparable across paths. */
export function decisions(l: PseudoLabel): string {
  return JSON.stringify([l.accepted.map((b) => [b.label, b.x1, b.y1, b.x2, b.y2]), l.negatives.map((n) => [n.box.x1, n.box.y1, n.rejectedAt])]);
}
