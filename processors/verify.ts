import { z } from 'zod';
import { deterministicId } from '../core/ids';
import { lineageOf } from '../core/lineage';
import { defineProcessor } from '../core/processor';
import { perRecord } from '../core/per-record';
import { retryPolicySchema } from '../core/retry';
import { imageIntakeConfig, ImageIntake, LoadedImage } from '../models/images/image-intake';
import { budgetConfig, flowSources, nodeSpendingGuard } from '../models/llm/budget';
import { llmNodeShape, maxOutputTokensSchema, nodeProvider } from '../models/llm/llm-node-config';
import { pauseWhileDown } from '../models/llm/pause-while-down';
import { sumCalls } from '../models/verifier/cascade';
import { loadVerifierPrompts, verifierPromptsConfig } from '../models/verifier/prompts';
import { Verifier, VerifierOptions } from '../models/verifier/verifier';
import { pricesFromJudgements, VerdictCacheEstimator } from '../models/verifier/replay-estimate';
import { Resources } from '../core/resources';
import type { DetectorProposals, PseudoLabel, VerifierJudgement } from '../schemas/generated/types';

const stageSettings = z
  .object({ reasoningEffort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).optional(), maxOutputTokens: maxOutputTokensSchema.optional() })
  .strict();

export const verifyConfig = z
  .object({
    /** provider (OpenAI Responses by default), limits, prices, maxOutputTokens: as every node that calls a model. */
    ...llmNodeShape({ provider: { kind: 'openai-responses' } }),
    prompts: verifierPromptsConfig.prefault({}),
    /** Reasoning effort and output cap per stage, over the provider's and maxOutputTokens. */
    stages: z
      .object({ coarse: stageSettings.optional(), crop: stageSettings.optional(), final: stageSettings.optional() })
      .strict()
      .prefault({}),
    crop: z
      .object({ padFraction: z.number().min(0).max(1).default(0.1), longSide: z.number().int().min(32).max(4096).default(640) })
      .strict()
      .prefault({}),
    /** Proposal sets verified at once; their calls share the provider's concurrency limit. */
    concurrency: z.number().int().min(1).max(1024).default(16),
    cache: z
      .object({
        enabled: z.boolean().default(true),
        /** Store name: a file in the embedded runtime, compacted topic `<prefix><store>` on Kafka. */
        store: z
          .string()
          .regex(/^[A-Za-z0-9._-]+$/)
          .default('verdicts'),
      })
      .strict()
      .prefault({}),
    images: imageIntakeConfig.prefault({}),
    /** Retries of a whole record (image fetch); provider calls retry on their own. */
    retry: retryPolicySchema.prefault({ maxAttempts: 2 }),
    /** Spending limits (USD per UTC hour/day, total): reached, the node pauses until the window rolls over. */
    budget: budgetConfig.prefault({}),
  })
  .strict();
export type VerifyConfig = z.infer<typeof verifyConfig>;

/** The Verifier's options from the node's config. */
function verifierOptions(config: VerifyConfig): VerifierOptions {
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
        const p = rec.value;
        await budget.admit(ctx.signal);
        const verifier = await verifierP;
        // Fetched at most once per record: for the hash below and again for the stages.
        let loaded: Promise<LoadedImage> | undefined;
        const fetchImage = () => (loaded ??= intake.load(p.image, ctx.signal));
        const image = {
          sha256: p.image.sha256 ?? '',
          width: p.imageWidth,
          height: p.imageHeight,
          // Intake refuses bytes whose sha256 differs from the one the detector saw: boxes
          // judged on other pixels would label the wrong picture.
          load: async () => (await fetchImage()).bytes,
        };
        // Without a hash from the detector, the cache key needs one now.
        if (!image.sha256) image.sha256 = (await fetchImage()).sha256;
        const result = await verifier.verify(image, p.boxes, ctx.signal);
        const version = verifier.version;
        const now = ctx.clock.now();
        const versions = {
          'verifier.version': version,
          'verifier.provider': llm.kind,
          'verifier.model': llm.model,
          'verifier.prompt.coarse': prompts.COARSE.hash,
          'verifier.prompt.crop': prompts.CROP.hash,
          'verifier.prompt.final': prompts.FINAL.hash,
        };
        const lineage = (parents: string[]) => lineageOf(ctx.node, parents, versions, rec.origin);
        const judgements: VerifierJudgement[] = result.stages.map((s) => {
          const usage = sumCalls(s.calls);
          return {
            id: deterministicId('judg', p.id, s.stage, version),
            proposalsId: p.id,
            queryId: p.queryId,
            stage: s.stage,
            verdicts: s.verdicts.map((v) => ({ boxIndex: v.boxIndex, keep: v.keep, reason: v.reason })),
            provider: llm.kind,
            model: llm.model,
            promptHash: prompts[s.stage].hash,
            cached: s.calls.every((c) => c.cached),
            usage,
            rawAnswer: s.calls.length === 1 ? s.calls[0]!.raw : JSON.stringify(s.calls.map((c) => c.raw)),
            createdAt: now,
            lineage: lineage([p.id, p.queryId]),
          };
        });
        const total = sumCalls(result.stages.flatMap((s) => s.calls));
        await budget.record(total.costUsd);
        const label: PseudoLabel = {
          id: deterministicId('pl', p.id, version),
          proposalsId: p.id,
          queryId: p.queryId,
          // Inline bytes are kept only when there is no URI to find the image by.
          image: { ...p.image, bytes: p.image.uri ? null : p.image.bytes, sha256: image.sha256 },
          width: p.imageWidth,
          height: p.imageHeight,
          accepted: result.accepted.map((i) => p.boxes[i - 1]!),
          negatives: result.rejected.map((r) => ({ box: p.boxes[r.boxIndex - 1]!, rejectedAt: r.stage, reason: r.reason })),
          verifierVersion: version,
          usage: total,
          createdAt: now,
          lineage: lineage([p.id, p.queryId, ...judgements.map((j) => j.id)]),
        };
        ctx.logger.debug({ proposals: p.id, boxes: p.boxes.length, accepted: label.accepted.length, calls: total.calls, costUsd: total.costUsd }, 'verified');
        return [...judgements.map((j) => ({ port: 'judgements', key: p.queryId, value: j })), { port: 'labels', key: p.queryId, value: label }];
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
