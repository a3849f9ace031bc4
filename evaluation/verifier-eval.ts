// Measures the verify node on a synthetic corpus: simulated low-threshold proposals go
// through the configured verifier (a real provider, or the fake one in the demo) on the
// embedded runtime, and label precision/recall against the ground truth is reported
// before and after verification, with the calls, tokens and dollars it took.
import * as path from 'node:path';
import type { Logger } from '../core/logger';
import type { StoreProvider } from '../core/store';
import { EmbeddedRuntime } from '../runtime/embedded/embedded-runtime';
import { dumpTopics } from '../runtime/embedded/topic-dump';
import { labelQuality, Quality, readGroundTruth } from './label-quality';
import { simulatedProposalRecords } from './synthetic-proposals';
import type { PseudoLabel, VerifierJudgement } from '../schemas/generated/types';
import { valorTopology } from '../topology/valor-topology';
import { DEFAULT_TOPIC_NAMES as T } from '../topology/topics';

export interface VerifierEvalResult {
  proposalSets: number;
  labelled: number;
  deadLettered: number;
  before: Quality;
  after: Quality;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  cachedStages: number;
  stages: number;
  seconds: number;
}

export async function evaluateVerifier(opts: {
  groundTruthFile: string;
  verifyConfig: unknown;
  stores: StoreProvider;
  outDir?: string;
  seed?: number;
  logger?: Logger;
  onProgress?: (done: number, total: number) => void;
}): Promise<VerifierEvalResult> {
  const proposals = simulatedProposalRecords(opts.groundTruthFile, { seed: opts.seed ?? 1 });
  const truth = readGroundTruth(opts.groundTruthFile);
  const runtime = new EmbeddedRuntime(valorTopology({ nodeConfig: { verify: opts.verifyConfig } }), {
    only: ['verify'],
    stores: opts.stores,
    logger: opts.logger,
    chunkSize: 64,
  });
  const t0 = Date.now();
  await runtime.produce(
    T.detectorProposals,
    proposals.map((p) => ({ key: p.queryId, value: p })),
  );
  // Chunk by chunk, so a long run shows progress.
  let done = 0;
  for (;;) {
    const before = done;
    const stats = await runtime.runUntilIdle(1);
    done = stats.get('verify')?.processed ?? 0;
    opts.onProgress?.(done, proposals.length);
    if (done === before) break;
  }
  const seconds = (Date.now() - t0) / 1000;
  const labels = (await runtime.read<PseudoLabel>(T.pseudoLabels)).map((r) => r.value);
  const judgements = (await runtime.read<VerifierJudgement>(T.verifierJudgements)).map((r) => r.value);
  const dead = await runtime.read(T.deadLetters);
  if (opts.outDir) await dumpTopics(runtime, path.join(opts.outDir, 'topics'));
  await runtime.close();

  const byId = new Map(proposals.map((p) => [p.id, p]));
  const items = (boxes: (l: PseudoLabel) => PseudoLabel['accepted']) =>
    labels.map((l) => ({ boxes: boxes(l), phrases: byId.get(l.proposalsId)!.phrases, truth: truth.get(l.queryId)! }));
  const sum = (f: (l: PseudoLabel) => number) => labels.reduce((s, l) => s + f(l), 0);
  return {
    proposalSets: proposals.length,
    labelled: labels.length,
    deadLettered: dead.length,
    before: labelQuality(items((l) => byId.get(l.proposalsId)!.boxes)),
    after: labelQuality(items((l) => l.accepted)),
    calls: sum((l) => l.usage.calls),
    inputTokens: sum((l) => l.usage.inputTokens),
    outputTokens: sum((l) => l.usage.outputTokens),
    costUsd: sum((l) => l.usage.costUsd),
    cachedStages: judgements.filter((j) => j.cached).length,
    stages: judgements.length,
    seconds,
  };
}

export function formatVerifierEval(r: VerifierEvalResult): string {
  const q = (name: string, x: Quality) =>
    `  ${name.padEnd(34)} precision ${x.precision.toFixed(3)}  recall ${x.recall.toFixed(3)}  (${x.truePositives} true of ${x.boxes} boxes; ${x.objects} objects)`;
  return [
    `verifier on ${r.proposalSets} simulated proposal sets: ${r.labelled} labelled, ${r.deadLettered} dead-lettered, ${r.seconds.toFixed(1)} s`,
    q('proposals (before verification)', r.before),
    q('pseudo-labels (after verification)', r.after),
    `  provider calls ${r.calls} (${(r.calls / Math.max(1, r.labelled)).toFixed(2)} per set), tokens in/out ${r.inputTokens}/${r.outputTokens}, cost $${r.costUsd.toFixed(4)}; ${r.cachedStages}/${r.stages} stage judgements from the verdict cache`,
  ].join('\n');
}
