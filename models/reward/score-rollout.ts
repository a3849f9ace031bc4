// One rollout scored: the format gate, the program in the sandbox against stub tools, the
// four LLM judges, and the reward record. Shared by the reward node and its batch-mode twin
// (whose judges answer from Batch API results), so both write the same record for the same
// answers.
import { deterministicId } from '../../core/ids';
import { lineageOf } from '../../core/lineage';
import type { Emit, InputRecord } from '../../core/processor';
import type { ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import type { SpendingGuard } from '../llm/budget';
import { JUDGES, RewardJudges } from './judges';
import { runProgram, SandboxOptions } from './python-sandbox';
import { checkFormat, RewardComponents, RewardWeights, totalReward } from './reward-score';

const ZERO: RewardComponents = { logic: 0, syntax: 0, attributes: 0, spatial: 0, adherence: 0 };

export interface ScoreEnv {
  node: string;
  judges: RewardJudges;
  weights: RewardWeights;
  sandbox: SandboxOptions;
  budget: SpendingGuard;
  now: () => number;
  signal?: AbortSignal;
}

/** The reward record of one rollout (keyed by group, for group completion). Throws what the judges throw. */
export async function scoreRollout(rec: InputRecord<ReasoningRollout>, env: ScoreEnv): Promise<Emit[]> {
  const { judges, weights } = env;
  const r = rec.value;
  let started = env.now();
  // The gate sees the response only; `formatOk` false is exactly the 'format-gate' flag.
  const { formatOk, plan, program } = checkFormat(r.response);
  const flags: string[] = [];
  let components = { ...ZERO };
  let usage = { calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 };
  if (!formatOk || plan === null || program === null) {
    flags.push('format-gate');
  } else {
    await env.budget.admit(env.signal);
    started = env.now(); // a wait for the budget is not judging latency
    const [syntax, judged] = await Promise.all([runProgram(program, env.sandbox), judges.judgeAll({ question: r.question, plan, program }, env.signal)]);
    if (!syntax.score) flags.push(`syntax:${syntax.reason.slice(0, 200)}`);
    components = { ...components, syntax: syntax.score };
    for (const j of JUDGES) {
      components[j] = judged.components[j].score;
      if (!judged.components[j].parsed) flags.push(`judge-unparsable:${j}`);
    }
    usage = judged.usage;
    await env.budget.record(usage.costUsd);
  }
  const version = judges.version;
  const { kind, model } = judges.provider;
  const value: RewardRecord = {
    id: deterministicId('rw', r.id, version, JSON.stringify(weights)),
    rolloutId: r.id,
    groupId: r.groupId,
    groupSize: r.groupSize,
    questionId: r.questionId,
    formatOk,
    components,
    weights: { ...weights },
    total: totalReward(components, weights, formatOk),
    flags,
    judgeProvider: kind,
    judgeModel: model,
    promptHashes: judges.promptHashes,
    latencyMs: env.now() - started,
    usage,
    createdAt: env.now(),
    lineage: lineageOf(
      env.node,
      [r.id],
      { 'reward.judges': version, ...Object.fromEntries(Object.entries(judges.promptHashes).map(([k, h]) => [`reward.prompt.${k}`, h])) },
      rec.origin,
    ),
  };
  // Keyed by group: every member of a group lands in one partition for group completion.
  return [{ port: 'rewards', key: r.groupId, value }];
}
