import { z } from 'zod';
import { defineProcessor } from '../core/processor';
import { cacheStoreConfig } from '../core/store';
import { perRecord } from '../core/per-record';
import { retryPolicySchema } from '../core/retry';
import { imageIntakeConfig, ImageIntake } from '../models/images/image-intake';
import { budgetConfig, flowSources, nodeSpendingGuard } from '../models/llm/budget';
import { batchModeFields } from '../models/llm/batch-mode';
import { llmNodeShape, maxOutputTokensSchema, nodeProvider } from '../models/llm/llm-node-config';
import { pauseWhileDown } from '../models/llm/pause-while-down';
import { loadVerifierPrompts, verifierPromptsConfig } from '../models/verifier/prompts';
import { Verifier, VerifierOptions } from '../models/verifier/verifier';
import { verifyProposals } from '../models/verifier/verification-records';
import { pricesFromJudgements, VerdictCacheEstimator } from '../models/verifier/replay-estimate';
import { Resources } from '../core/resources';
import type { DetectorProposals, VerifierJudgement } from '../schemas/generated/types';

const stageSettings = z
  .object({ reasoningEffort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).optional(), maxOutputTokens: maxOutputTokensSchema.optional() })
  .strict();

export const verifyConfig = z
  .object({
    /** provider (OpenAI Responses by default), limits, prices, maxOutputTokens: as every node that calls a model. */
    ...llmNodeShape({ provider: { kind: 'openai-responses' } }),
    prompts: verifierPromptsConfig.prefault({}),
    /** Reasoning effort and output cap per stage, over the provider's and maxOutputTokens. */
    stages: z.object({ coarse: stageSettings.optional(), crop: stageSettings.optional(), final: stageSettings.optional() }).strict().prefault({}),
    crop: z
      .object({ padFraction: z.number().min(0).max(1).default(0.1), longSide: z.number().int().min(32).max(4096).default(640) })
      .strict()
      .prefault({}),
    /** Proposal sets verified at once; their calls share the provider's concurrency limit. */
    concurrency: z.number().int().min(1).max(1024).default(16),
    cache: cacheStoreConfig('verdicts'),
    images: imageIntakeConfig.prefault({}),
    /** Retries of a whole record (image fetch); provider calls retry on their own. */
    retry: retryPolicySchema.prefault({ maxAttempts: 2 }),
    /** Spending limits (USD per UTC hour/day, total): reached, the node pauses until the window rolls over. */
    budget: budgetConfig.prefault({}),
    /** mode batch: stage calls in Batch API jobs, records parked meanwhile (processor verify-batch). */
    ...batchModeFields,
  })
  .strict();
export type VerifyConfig = z.infer<typeof verifyConfig>;

/** The Verifier's options from the node's config. */
export function verifierOptions(config: VerifyConfig): VerifierOptions {
  const { coarse, crop, final } = config.stages;
  return { crop: config.crop, maxOutputTokens: config.maxOutputTokens, stages: { COARSE: coarse, CROP: crop, FINAL: final } };
}

/**
 * detector-proposals -> verifier-judgements (one per stage that ran) + pseudo-labels (one
 * per proposal set: the accepted boxes and every rejected box as a hard negative, with the
 * stage that rejected it and why). While the provider's circuit breaker is open, or a
 * spending limit is reached, the node pauses consumption instead of failing records.
 */
export const verify = defineProcessor({
  kind: 'verify',
  description: 'three-stage VLM verification (coarse, per-box crop, final/dedup) of detector proposals',
  input: 'DetectorProposals',
  outputs: { judgements: 'VerifierJudgement', labels: 'PseudoLabel' },
  config: verifyConfig,
  prepare: async (config, ctx) => {
    loadVerifierPrompts(config.prompts);
    nodeProvider(ctx.resources, config, ctx.logger);
  },
  create: (config, ctx) => {
    const llm = nodeProvider(ctx.resources, config, ctx.logger);
    const prompts = loadVerifierPrompts(config.prompts);
    const intake = new ImageIntake(config.images);
    const cacheStore = config.cache.enabled ? ctx.stores.open(config.cache.store, 'VerdictCacheEntry') : Promise.resolve(null);
    const verifierP = cacheStore.then((cache) => new Verifier(llm, prompts, cache, verifierOptions(config)));

    // Outage or spent budget: stop taking records (Kafka pauses the partitions) rather than failing them.
    const flows = flowSources(ctx.flow);
    const down = pauseWhileDown(llm, flows('provider'));
    ctx.onClose(() => down.unsubscribe());
    const budget = nodeSpendingGuard(ctx, config.budget, flows('budget'));

    const op = perRecord<DetectorProposals>(
      async (rec) => {
        await budget.admit(ctx.signal);
        const env = { node: ctx.node, verifier: await verifierP, prompts, intake, now: () => ctx.clock.now(), signal: ctx.signal };
        const r = await verifyProposals(rec.value, rec.origin, env);
        await budget.record(r.costUsd);
        ctx.logger.debug({ proposals: rec.value.id, boxes: rec.value.boxes.length, accepted: r.accepted, calls: r.calls, costUsd: r.costUsd }, 'verified');
        return r.emits;
      },
      { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler },
    );
    return op;
  },
  // replay --dry-run: the cascade walked through the verdict cache, priced by recent calls.
  estimate: async (config, env) => {
    const resources = new Resources(env.logger);
    try {
      const llm = nodeProvider(resources, config, env.logger); // for its kind and model: never called
      const verifier = new Verifier(llm, loadVerifierPrompts(config.prompts), null, verifierOptions(config));
      const cache = config.cache.enabled ? await env.stores.open(config.cache.store, 'VerdictCacheEntry') : null;
      const recent = (await env.recentOutputs('judgements', 2_000)) as VerifierJudgement[];
      return new VerdictCacheEstimator(verifier, cache, pricesFromJudgements(recent));
    } finally {
      await resources.closeAll();
    }
  },
});
