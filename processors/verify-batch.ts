import { defineProcessor } from '../core/processor';
import { perRecord } from '../core/per-record';
import { ImageIntake } from '../models/images/image-intake';
import { flowSources, nodeSpendingGuard } from '../models/llm/budget';
import { createProvider } from '../models/llm/create-provider';
import { nodeProvider } from '../models/llm/llm-node-config';
import type { OpenAIResponsesProvider } from '../models/llm/openai-responses';
import { loadVerifierPrompts } from '../models/verifier/prompts';
import { verifyProposals } from '../models/verifier/verification-records';
import { Verifier } from '../models/verifier/verifier';
import { batchParking } from '../models/llm/batch-parking';
import { batchProvider, nodeBatchQueue } from '../models/llm/batch-mode';
import { isBatchPending } from '../models/llm/batch-routed-llm';
import type { DetectorProposals } from '../schemas/generated/types';
import { verifierOptions, verify, verifyConfig } from './verify';

/**
 * The verify node in batch mode (`nodes.verify.mode: batch`): the same cascade and records as
 * `verify`, but each stage call goes into a Batch API job at half price. A record whose
 * calls are out is parked in the node's keyed state, in the same transaction as its input
 * offset, so commits go on while batches run for hours; a punctuation re-runs parked
 * cascades when results arrive (stage 2 after stage 1, stage 3 after stage 2) and writes
 * the records of the finished ones, deleting them from state, in one transaction. What a
 * crash leaves is exactly what was committed: parked records come back with the state, and
 * the batch store says which calls are out (so none is submitted twice).
 */
export const verifyBatch = defineProcessor({
  kind: 'verify-batch',
  description: 'the verify node in batch mode: stage calls in OpenAI Batch API jobs, records parked in state meanwhile',
  input: 'DetectorProposals',
  outputs: verify.outputs,
  state: { type: 'ParkedRecord' },
  config: verifyConfig,
  prepare: async (config, ctx) => {
    batchProvider(ctx.node, config.provider);
    await verify.prepare!(config, ctx);
  },
  create: (config, ctx) => {
    const llm = nodeProvider(ctx.resources, config, ctx.logger); // repair turns only
    const prompts = loadVerifierPrompts(config.prompts);
    const intake = new ImageIntake(config.images);
    const direct = createProvider(config.provider) as OpenAIResponsesProvider;
    const b = config.batch;
    const queueP = nodeBatchQueue(ctx, batchProvider(ctx.node, config.provider), b, config.prices);
    const cacheStore = config.cache.enabled ? ctx.stores.open(config.cache.store, 'VerdictCacheEntry') : Promise.resolve(null);
    const verifierP = Promise.all([cacheStore, queueP]).then(
      ([cache, queue]) =>
        new Verifier(llm, prompts, cache, {
          ...verifierOptions(config),
          batch: { queue, bodyOf: (req) => direct.buildBody(req) as never, maxAttempts: b.maxAttempts },
        }),
    );
    const flows = flowSources(ctx.flow);
    const budget = nodeSpendingGuard(ctx, config.budget, flows('budget'));
    const step = batchParking<DetectorProposals>({
      ctx,
      queue: queueP,
      recheckMs: b.recheckMs,
      maxWaiting: b.maxWaiting,
      flow: flows('batch'),
      idOf: (p) => p.id,
      attempt: async (rec) => {
        const env = { node: ctx.node, verifier: await verifierP, prompts, intake, now: () => ctx.clock.now(), signal: ctx.signal };
        try {
          const r = await verifyProposals(rec.value, rec.origin, env);
          await budget.record(r.costUsd);
          return r.emits;
        } catch (err) {
          if (isBatchPending(err)) return null;
          throw err;
        }
      },
    });
    const op = perRecord<DetectorProposals>(
      async (rec) => {
        await budget.admit(ctx.signal);
        return step(rec);
      },
      { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler },
    );
    return op;
  },
});
