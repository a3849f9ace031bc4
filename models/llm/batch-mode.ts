// What a node needs to run its model calls in batch mode (`mode: batch`, provider
// openai-responses): its config block, the check that its provider can, and the node's
// BatchQueue as a runtime resource (one per node and provider, closed after the nodes stop,
// so what is queued is submitted).
import { z } from 'zod';
import { ConfigError } from '../../core/errors';
import type { ProcessorContext } from '../../core/processor';
import { resourceKind } from '../../core/resources';
import { BatchQueue } from './batch-queue';
import type { ProviderConfig } from './create-provider';
import { OpenAIBatchApi } from './openai-batch';
import { PriceTable, withDefaultPrices } from './pricing';

export const batchModeConfig = z
  .object({
    /** Requests per Batch API file (the API allows 50,000) and bytes per file (it allows 200 MB). */
    maxRequests: z.number().int().min(1).max(50_000).default(5_000),
    maxBytes: z.number().int().min(1_000).max(200_000_000).default(150_000_000),
    /** A partial file is submitted this long after its first request. */
    flushAfterMs: z.number().int().min(10).default(60_000),
    /** How often submitted batches are polled. */
    pollEveryMs: z.number().int().min(10).default(30_000),
    /** How often waiting records look for their results (only after new results arrived). */
    recheckMs: z.number().int().min(10).default(5_000),
    /** Submissions per call before its record is dead-lettered (expired or failed ones are resubmitted). */
    maxAttempts: z.number().int().min(1).max(10).default(3),
    /** Records waiting at once (all partitions of this process); more pauses the input. */
    maxWaiting: z.number().int().min(1).default(20_000),
    /** A submission left half-done by a crash is looked up after this long. */
    submitGraceMs: z.number().int().min(0).default(60_000),
  })
  .strict();
export type BatchModeConfig = z.infer<typeof batchModeConfig>;

/** `mode` and `batch` for a node's config shape. */
export const batchModeFields = {
  /** sync: each model call is an API call. batch (provider openai-responses): calls go to Batch API jobs at half price; records wait in the node. */
  mode: z.enum(['sync', 'batch']).default('sync'),
  batch: batchModeConfig.prefault({}),
};

type ResponsesConfig = Extract<ProviderConfig, { kind: 'openai-responses' }>;

/** The provider config, if it can run batches; otherwise a ConfigError naming the node. */
export function batchProvider(node: string, provider: ProviderConfig): ResponsesConfig {
  if (provider.kind !== 'openai-responses') {
    throw new ConfigError(
      `nodes.${node}.mode batch needs provider.kind openai-responses (OpenAI's Batch API); got ${provider.kind}. Gemini batch jobs on Vertex AI read and write Cloud Storage, which this project does not drive (see README: Cost)`,
    );
  }
  return provider;
}

// Closed with the runtime's resources, after every node stopped: what is queued is submitted.
const BATCH_QUEUES = resourceKind<Promise<BatchQueue>>('batch-queue', async (q) => (await q).close());

/** The node's BatchQueue over the stores 'batches' and 'batch-results', started (recovery done). */
export function nodeBatchQueue(ctx: ProcessorContext, provider: ResponsesConfig, b: BatchModeConfig, prices?: PriceTable): Promise<BatchQueue> {
  return ctx.resources.get(BATCH_QUEUES, `${ctx.node}|${JSON.stringify(provider)}`, async () => {
    const queue = new BatchQueue({
      api: new OpenAIBatchApi(process.env[provider.apiKeyEnv] ?? '', provider.baseURL),
      model: provider.model,
      prices: withDefaultPrices(prices),
      submissions: await ctx.stores.open('batches', 'BatchSubmission'),
      results: await ctx.stores.open('batch-results', 'BatchResult'),
      maxRequests: b.maxRequests,
      maxBytes: b.maxBytes,
      flushAfterMs: b.flushAfterMs,
      pollEveryMs: b.pollEveryMs,
      submitGraceMs: b.submitGraceMs,
      logger: ctx.logger.child({ batchQueue: ctx.node }),
    });
    await queue.start();
    return queue;
  });
}
