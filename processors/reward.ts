import { z } from 'zod';
import { defineProcessor } from '../core/processor';
import { perRecord } from '../core/per-record';
import { retryPolicySchema } from '../core/retry';
import { budgetConfig, flowSources, nodeSpendingGuard } from '../models/llm/budget';
import { batchModeFields } from '../models/llm/batch-mode';
import { llmNodeShape, nodeProvider, renamedFields } from '../models/llm/llm-node-config';
import { pauseWhileDown } from '../models/llm/pause-while-down';
import { judgePromptsConfig, RewardJudges } from '../models/reward/judges';
import { sandboxLimitsConfig } from '../models/reward/python-sandbox';
import { parseRewardWeights, rewardWeightsSchema } from '../models/reward/reward-score';
import { scoreRollout } from '../models/reward/score-rollout';
import type { ReasoningRollout } from '../schemas/generated/types';

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
    sandbox: sandboxLimitsConfig({ timeoutMs: 5_000, cpuSeconds: 3, memoryMb: 256 }),
    /** Rollouts in work at once; their judge calls share `limits.concurrency`. */
    concurrency: z.number().int().min(1).max(1024).default(16),
    retry: retryPolicySchema.prefault({ maxAttempts: 2 }),
    /** Spending limits on the judges (USD per UTC hour/day, total): reached, the node pauses until the window rolls over. */
    budget: budgetConfig.prefault({}),
    /** mode batch: judge calls in Batch API jobs, rollouts parked meanwhile (processor reward-batch). */
    ...batchModeFields,
  })
  .strict();
export type RewardConfig = z.infer<typeof rewardConfig>;

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
      (rec) => scoreRollout(rec, { node: ctx.node, judges, weights, sandbox: config.sandbox, budget, now: () => ctx.clock.now(), signal: ctx.signal }),
      { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler },
    );
  },
});
