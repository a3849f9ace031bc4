import { z } from 'zod';
import { deterministicId } from '../core/ids';
import { lineageOf } from '../core/lineage';
import { defineProcessor } from '../core/processor';
import { perRecord } from '../core/per-record';
import { retryPolicySchema } from '../core/retry';
import { budgetConfig, flowSources, nodeSpendingGuard } from '../models/llm/budget';
import { llmNodeShape, nodeProvider, renamedFields } from '../models/llm/llm-node-config';
import { pauseWhileDown } from '../models/llm/pause-while-down';
import { judgePromptsConfig, JUDGES, RewardJudges } from '../models/reward/judges';
import { runProgram } from '../models/reward/python-sandbox';
import { checkFormat, parseRewardWeights, RewardComponents, rewardWeightsSchema, totalReward } from '../models/reward/reward-score';
import type { ReasoningRollout, RewardRecord } from '../schemas/generated/types';

export const rewardConfig = z
  .object({
    /**
     * The judges' provider (Gemini on Vertex AI by default, as the method; any kind of the
     * provider layer works), limits, prices and maxOutputTokens: as every node that calls a model.
     */
    ...llmNodeShape({ provider: { kind: 'gemini-vertex' } }),
    ...renamedFields({ judge: 'provider' }),
    prompts: judgePromptsConfig.prefault({}),
    weights: rewardWeightsSchema.prefault({}),
    sandbox: z
      .object({
        timeoutMs: z.number().int().min(100).default(5_000),
        cpuSeconds: z.number().int().min(1).default(3),
        memoryMb: z.number().int().min(32).default(256),
      })
      .strict()
      .prefault({}),
    /** Rollouts in work at once; their judge calls share `limits.concurrency`. */
    concurrency: z.number().int().min(1).max(1024).default(16),
    retry: retryPolicySchema.prefault({ maxAttempts: 2 }),
    /** Spending limits on the judges (USD per UTC hour/day, total): reached, the node pauses until the window rolls over. */
    budget: budgetConfig.prefault({}),
  })
  .strict();
export type RewardConfig = z.infer<typeof rewardConfig>;

const ZERO: RewardComponents = { logic: 0, syntax: 0, attributes: 0, spatial: 0, adherence: 0 };

/**
 * reasoning-rollouts -> reward-records (method, Loop 2). The format gate comes first: a
 * response without a non-empty <plan> and a non-empty <answer> block scores 0 without any
 * call (formatOk false, flag 'format-gate'). Otherwise the
 * program runs in the Python sandbox against stub tools (syntax) while the four LLM
 * judges score it concurrently. A judge that fails after the provider's retries fails the
 * record (retried, then dead-lettered), never a silent 0; an unparsable judge answer is a
 * 0 with a flag, as the method scores it.
 */
export const reward = defineProcessor({
  kind: 'reward',
  description: 'format gate, sandboxed syntax run and four LLM judges -> one reward per rollout',
  input: 'ReasoningRollout',
  outputs: { rewards: 'RewardRecord' },
  config: rewardConfig,
  prepare: async (config, ctx) => {
    RewardJudges.loadPrompts(config.prompts);
    parseRewardWeights(config.weights);
    nodeProvider(ctx.resources, config, ctx.logger);
  },
  create: (config, ctx) => {
    const llm = nodeProvider(ctx.resources, config, ctx.logger);
    const judges = new RewardJudges(llm, RewardJudges.loadPrompts(config.prompts), { maxOutputTokens: config.maxOutputTokens });
    const weights = parseRewardWeights(config.weights);
    const flows = flowSources(ctx.flow);
    const down = pauseWhileDown(llm, flows('provider'));
    ctx.onClose(() => down.unsubscribe());
    const budget = nodeSpendingGuard(ctx, config.budget, flows('budget'));

    return perRecord<ReasoningRollout>(
      async (rec) => {
        const r = rec.value;
        let started = ctx.clock.now();
        // The gate sees the response only; `formatOk` false is exactly the 'format-gate' flag.
        const { formatOk, plan, program } = checkFormat(r.response);
        const flags: string[] = [];
        let components = { ...ZERO };
        let usage = { calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 };
        if (!formatOk || plan === null || program === null) {
          flags.push('format-gate');
        } else {
          await budget.admit(ctx.signal);
          started = ctx.clock.now(); // a wait for the budget is not judging latency
          const [syntax, judged] = await Promise.all([
            runProgram(program, config.sandbox),
            judges.judgeAll({ question: r.question, plan, program }, ctx.signal),
          ]);
          if (!syntax.score) flags.push(`syntax:${syntax.reason.slice(0, 200)}`);
          components = { ...components, syntax: syntax.score };
          for (const j of JUDGES) {
            components[j] = judged.components[j].score;
            if (!judged.components[j].parsed) flags.push(`judge-unparsable:${j}`);
          }
          usage = judged.usage;
          await budget.record(usage.costUsd);
        }
        const version = judges.version;
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
          judgeProvider: llm.kind,
          judgeModel: llm.model,
          promptHashes: judges.promptHashes,
          latencyMs: ctx.clock.now() - started,
          usage,
          createdAt: ctx.clock.now(),
          lineage: lineageOf(
            ctx.node,
            [r.id],
            { 'reward.judges': version, ...Object.fromEntries(Object.entries(judges.promptHashes).map(([k, h]) => [`reward.prompt.${k}`, h])) },
            rec.origin,
          ),
        };
        // Keyed by group: every member of a group lands in one partition for group completion.
        return [{ port: 'rewards', key: r.groupId, value }];
      },
      { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler },
    );
  },
});
