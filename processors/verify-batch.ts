import { ConfigError } from '../core/errors';
import type { KeyedState } from '../core/keyed-state';
import { defineProcessor, Emit, InputRecord, PunctuationFailure } from '../core/processor';
import { perRecord } from '../core/per-record';
import { resourceKind } from '../core/resources';
import { ImageIntake } from '../models/images/image-intake';
import { BatchQueue } from '../models/llm/batch-queue';
import { flowSources, nodeSpendingGuard } from '../models/llm/budget';
import { createProvider } from '../models/llm/create-provider';
import { nodeProvider } from '../models/llm/llm-node-config';
import { OpenAIBatchApi } from '../models/llm/openai-batch';
import type { OpenAIResponsesProvider } from '../models/llm/openai-responses';
import { withDefaultPrices } from '../models/llm/pricing';
import { loadVerifierPrompts } from '../models/verifier/prompts';
import { verifyProposals } from '../models/verifier/verification-records';
import { BatchPending, Verifier } from '../models/verifier/verifier';
import type { DetectorProposals, ParkedProposals } from '../schemas/generated/types';
import { verifierOptions, verify, VerifyConfig, verifyConfig } from './verify';

// Closed with the runtime's resources, after every node stopped: what is queued is submitted.
const BATCH_QUEUES = resourceKind<Promise<BatchQueue>>('batch-queue', async (q) => (await q).close());

// Bytes survive the trip through JSON as base64.
const toJson = (v: unknown) =>
  JSON.stringify(v, (_k, x: unknown) => {
    const b = x as { type?: string; data?: number[] } | null;
    return b && b.type === 'Buffer' && Array.isArray(b.data) ? { $b64: Buffer.from(b.data).toString('base64') } : x;
  });
const fromJson = <T>(s: string): T =>
  JSON.parse(s, (_k, x: unknown) => (x && typeof (x as { $b64?: unknown }).$b64 === 'string' ? Buffer.from((x as { $b64: string }).$b64, 'base64') : x)) as T;

function checkBatchProvider(config: VerifyConfig): void {
  if (config.provider.kind !== 'openai-responses') {
    throw new ConfigError(
      `nodes.verify.mode batch needs provider.kind openai-responses (OpenAI's Batch API); got ${config.provider.kind}. Gemini batch jobs on Vertex AI read and write Cloud Storage, which this project does not drive (see README: Cost)`,
    );
  }
}

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
  state: { type: 'ParkedProposals' },
  config: verifyConfig,
  prepare: async (config, ctx) => {
    checkBatchProvider(config);
    await verify.prepare!(config, ctx);
  },
  create: (config, ctx) => {
    checkBatchProvider(config);
    const llm = nodeProvider(ctx.resources, config, ctx.logger); // repair turns only
    const prompts = loadVerifierPrompts(config.prompts);
    const intake = new ImageIntake(config.images);
    const direct = createProvider(config.provider) as OpenAIResponsesProvider;
    const b = config.batch;
    const queueP = ctx.resources.get(BATCH_QUEUES, `${ctx.node}|${JSON.stringify(config.provider)}`, () =>
      (async () => {
        const p = config.provider as Extract<VerifyConfig['provider'], { kind: 'openai-responses' }>;
        const queue = new BatchQueue({
          api: new OpenAIBatchApi(process.env[p.apiKeyEnv] ?? '', p.baseURL),
          model: p.model,
          prices: withDefaultPrices(config.prices),
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
      })(),
    );
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
    const state = ctx.state as KeyedState<ParkedProposals>;
    const waiting = flows('batch');
    let parkedCount = 0;
    const recount = (partitions: Iterable<number>) => {
      parkedCount = 0;
      for (const p of partitions) parkedCount += state.entries(p).length;
      if (parkedCount >= b.maxWaiting) waiting.pause(`batch: ${parkedCount} records wait for Batch API results (maxWaiting ${b.maxWaiting})`);
      else waiting.resume();
    };
    const seenPartitions = new Set<number>();

    /** The records of a finished cascade, or null while its calls are out. */
    const attempt = async (rec: InputRecord<DetectorProposals>): Promise<Emit[] | null> => {
      const env = { node: ctx.node, verifier: await verifierP, prompts, intake, now: () => ctx.clock.now(), signal: ctx.signal };
      try {
        const r = await verifyProposals(rec.value, rec.origin, env);
        await budget.record(r.costUsd);
        return r.emits;
      } catch (err) {
        if (err instanceof BatchPending) return null;
        throw err;
      }
    };

    const op = perRecord<DetectorProposals>(
      async (rec) => {
        await budget.admit(ctx.signal);
        const p = rec.origin.partition;
        seenPartitions.add(p);
        const emits = await attempt(rec);
        if (emits) return emits;
        const { origin } = rec;
        state.set(p, rec.value.id, {
          proposalsJson: toJson(rec.value),
          key: rec.key,
          topic: origin.topic,
          partition: origin.partition,
          offset: Number(origin.offset),
          timestamp: rec.timestamp,
          parkedAt: ctx.clock.now(),
        });
        recount(seenPartitions);
        return [];
      },
      { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler },
    );

    // Parked cascades run again only when results came in since this partition last looked.
    const lookedAt = new Map<number, number>();
    ctx.schedule(b.recheckMs, async (partition): Promise<{ emits: Emit[]; failures: PunctuationFailure[] }> => {
      seenPartitions.add(partition);
      const queue = await queueP;
      const parked = state.entries(partition);
      if (parked.length === 0 || lookedAt.get(partition) === queue.version) return { emits: [], failures: [] };
      lookedAt.set(partition, queue.version);
      const emits: Emit[] = [];
      const failures: PunctuationFailure[] = [];
      await Promise.all(
        parked.map(async ([id, pk]) => {
          const rec: InputRecord<DetectorProposals> = {
            key: pk.key,
            value: fromJson<DetectorProposals>(pk.proposalsJson),
            origin: { topic: pk.topic, partition: pk.partition, offset: String(pk.offset) },
            timestamp: pk.timestamp,
          };
          try {
            const out = await attempt(rec);
            if (!out) return;
            emits.push(...out);
          } catch (error) {
            failures.push({ input: rec, error, attempts: 1 });
          }
          state.delete(partition, id);
        }),
      );
      // Requests queued by these cascades go out now rather than after flushAfterMs.
      await queue.flushNow();
      recount(seenPartitions);
      return { emits, failures };
    });
    return op;
  },
});
