import { defineProcessor } from '../core/processor';
import { perRecord } from '../core/per-record';
import { batchProvider, nodeBatchQueue } from '../models/llm/batch-mode';
import { batchParking } from '../models/llm/batch-parking';
import { BatchRoutedLlm, isBatchPending } from '../models/llm/batch-routed-llm';
import { flowSources, nodeSpendingGuard } from '../models/llm/budget';
import { createProvider } from '../models/llm/create-provider';
import type { OpenAIResponsesProvider } from '../models/llm/openai-responses';
import { RewardJudges } from '../models/reward/judges';
import { parseRewardWeights } from '../models/reward/reward-score';
import { scoreRollout } from '../models/reward/score-rollout';
import type { ReasoningRollout } from '../schemas/generated/types';
import { reward, rewardConfig } from './reward';

/**
 * The reward node in batch mode (`nodes.reward.mode: batch`, provider openai-responses): the
 * same gate, sandbox run and four judges as `reward`, but the judge calls go into Batch API
 * jobs at half price. A rollout whose judge calls are out is parked in the node's keyed
 * state with its input offset, and scored by a punctuation once the four answers are in
 * (see models/llm/batch-parking.ts); the record is the same as the synchronous node's.
 */
export const rewardBatch = defineProcessor({
  kind: 'reward-batch',
  description: 'the reward node in batch mode: judge calls in OpenAI Batch API jobs, rollouts parked in state meanwhile',
  input: 'ReasoningRollout',
  outputs: reward.outputs,
  state: { type: 'ParkedRecord' },
  config: rewardConfig,
  prepare: async (config, ctx) => {
    batchProvider(ctx.node, config.provider);
    await reward.prepare!(config, ctx);
  },
  create: (config, ctx) => {
    const provider = batchProvider(ctx.node, config.provider);
    const direct = createProvider(provider) as OpenAIResponsesProvider;
    const queue = nodeBatchQueue(ctx, provider, config.batch, config.prices);
    // The judges call through the queue once it has started (its recovery done).
    const prompts = RewardJudges.loadPrompts(config.prompts);
    const judgesP = queue.then(
      (q) =>
        new RewardJudges(new BatchRoutedLlm(provider.kind, provider.model, q, (req) => direct.buildBody(req) as never, config.batch.maxAttempts), prompts, {
          maxOutputTokens: config.maxOutputTokens,
        }),
    );
    const weights = parseRewardWeights(config.weights);
    const flows = flowSources(ctx.flow);
    const budget = nodeSpendingGuard(ctx, config.budget, flows('budget'));
    const step = batchParking<ReasoningRollout>({
      ctx,
      queue,
      recheckMs: config.batch.recheckMs,
      maxWaiting: config.batch.maxWaiting,
      flow: flows('batch'),
      idOf: (r) => r.id,
      attempt: async (rec) => {
        const judges = await judgesP;
        try {
          return await scoreRollout(rec, { node: ctx.node, judges, weights, sandbox: config.sandbox, budget, now: () => ctx.clock.now(), signal: ctx.signal });
        } catch (err) {
          if (isBatchPending(err)) return null;
          throw err;
        }
      },
    });
    return perRecord<ReasoningRollout>(step, { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler });
  },
});
