// Gathers provider calls into Batch API submissions and brings their results back, without
// ever submitting (or paying for) a request twice:
// - a request is known by its custom id (for the verifier, the verdict-cache key); one that
//   is waiting, submitted, or answered is not queued again;
// - a flush first writes the submission as SUBMITTING with its custom ids to the 'batches'
//   store, then uploads and creates the batch with metadata.valor_local_id, then records
//   the batch id (SUBMITTED). A process that dies between the first and last step leaves a
//   SUBMITTING entry; whoever starts next looks the batch up by that metadata: found, it is
//   polled; not found, it was never created and its requests are simply asked for again;
// - SUBMITTED batches are polled by every live instance (the submitter may be dead); when a
//   batch ends, each answer (or final failure) goes to the 'batch-results' store keyed by
//   custom id, priced at the Batch rate, and the submission is marked DONE. Results are
//   idempotent, so two instances finishing the same batch write the same thing.
// Requests that expired or failed get no result: the caller asks for them again, with the
// attempt count it read, up to maxAttempts, then gives up (the record is dead-lettered).
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/logger';
import type { KeyValueStore } from '../../core/store';
import type { BatchResult, BatchSubmission } from '../../schemas/generated/types';
import { OpenAIBatchApi, responsesOutputText, TERMINAL_BATCH_STATUSES } from './openai-batch';
import { costUsd, PriceTable } from './pricing';

export interface BatchQueueOptions {
  api: OpenAIBatchApi;
  model: string;
  prices: PriceTable;
  submissions: KeyValueStore<BatchSubmission>;
  results: KeyValueStore<BatchResult>;
  /** Requests per submission (the API allows 50,000) and bytes per file (200 MB allowed). */
  maxRequests: number;
  maxBytes: number;
  /** A partial submission goes out this long after its first request. */
  flushAfterMs: number;
  pollEveryMs: number;
  /** A SUBMITTING entry younger than this may still be on its way (its process alive). */
  submitGraceMs: number;
  logger: Logger;
  now?: () => number;
}

export interface BatchQueueStats {
  submissions: number;
  requestsSubmitted: number;
  results: number;
  failedRequests: number;
  recovered: number;
}

export class BatchQueue {
  readonly instanceId = randomUUID();
  readonly stats: BatchQueueStats = { submissions: 0, requestsSubmitted: 0, results: 0, failedRequests: 0, recovered: 0 };
  /** Bumps when results land, so waiting records know to look again. */
  version = 0;
  private pending: Array<{ customId: string; line: string; attempt: number }> = [];
  private pendingBytes = 0;
  /** Custom ids queued here, or in a SUBMITTING/SUBMITTED submission (from the store). */
  private readonly inFlight = new Set<string>();
  private flushTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private working: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: BatchQueueOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Recovers what a previous process left and starts polling. */
  async start(): Promise<void> {
    await this.serial(() => this.poll());
    this.pollTimer = setInterval(() => void this.serial(() => this.poll()), this.o.pollEveryMs);
    this.pollTimer.unref?.();
  }

  /** The stored outcome of a request, if it has one. */
  result(customId: string): Promise<BatchResult | undefined> {
    return this.o.results.get(customId);
  }

  /** Whether a request is queued or in a submission not finished yet. */
  isPending(customId: string): boolean {
    return this.inFlight.has(customId);
  }

  /**
   * Queues a request (its Responses API body) unless it is queued or submitted already.
   * `attempt` is 1, or one more than the failed result being asked for again.
   */
  request(customId: string, body: Record<string, unknown>, attempt = 1): void {
    if (this.closed || this.inFlight.has(customId)) return;
    const line = JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/responses', body });
    if (this.pending.length && this.pendingBytes + line.length > this.o.maxBytes) void this.serial(() => this.flush());
    this.inFlight.add(customId);
    this.pending.push({ customId, line, attempt });
    this.pendingBytes += line.length + 1;
    if (this.pending.length >= this.o.maxRequests) void this.serial(() => this.flush());
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => void this.serial(() => this.flush()), this.o.flushAfterMs);
      this.flushTimer.unref?.();
    }
  }

  /** Submits what is queued now (also at close, so nothing queued is lost). */
  flushNow(): Promise<void> {
    return this.serial(() => this.flush());
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.flushTimer);
    await this.serial(() => this.flush());
  }

  /** One flush or poll at a time: the store's submission entries are read and written by one hand. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.working.then(fn).catch((err) => this.o.logger.warn({ error: String(err) }, 'batch queue step failed; it is tried again'));
    this.working = run;
    return run;
  }

  private async flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    while (this.pending.length) {
      const take = this.pending.splice(0, this.o.maxRequests);
      this.pendingBytes = this.pending.reduce((n, p) => n + p.line.length + 1, 0);
      const localId = randomUUID();
      const intent: BatchSubmission = {
        localId,
        state: 'SUBMITTING',
        batchId: null,
        customIds: take.map((t) => t.customId),
        attempt: Math.max(...take.map((t) => t.attempt)),
        owner: this.instanceId,
        updatedAt: this.now(),
        status: null,
      };
      await this.o.submissions.put(localId, intent);
      try {
        const batch = await this.o.api.submit(take.map((t) => t.line).join('\n') + '\n', localId);
        await this.o.submissions.put(localId, { ...intent, state: 'SUBMITTED', batchId: batch.id, status: batch.status, updatedAt: this.now() });
        this.stats.submissions++;
        this.stats.requestsSubmitted += take.length;
        this.o.logger.info({ batchId: batch.id, requests: take.length }, 'batch submitted');
      } catch (err) {
        // Unknown whether the batch exists: the next poll looks it up by its local id.
        this.o.logger.warn({ localId, requests: take.length, error: String(err) }, 'batch submission failed; it is looked up (or asked for again) later');
      }
    }
  }

  /** Recovers SUBMITTING entries, polls SUBMITTED ones, and finishes those that ended. */
  private async poll(): Promise<void> {
    for (const key of this.o.submissions.keys('')) {
      if (this.closed) return;
      const s = await this.o.submissions.get(key);
      if (!s || s.state === 'DONE') continue;
      for (const id of s.customIds) this.inFlight.add(id);
      if (s.state === 'SUBMITTING') {
        if (s.owner === this.instanceId || this.now() - s.updatedAt < this.o.submitGraceMs) continue;
        const found = await this.o.api.findByLocalId(s.localId);
        this.stats.recovered++;
        if (!found) {
          // Never created: forget it; the records waiting for these requests ask again.
          this.o.logger.info({ localId: s.localId, requests: s.customIds.length }, 'batch never created before a crash; its requests will be asked for again');
          await this.o.submissions.put(key, { ...s, state: 'DONE', status: 'never-created', updatedAt: this.now() });
          for (const id of s.customIds) this.inFlight.delete(id);
          this.version++;
          continue;
        }
        this.o.logger.info({ localId: s.localId, batchId: found.id }, 'batch created before a crash found again');
        await this.o.submissions.put(key, { ...s, state: 'SUBMITTED', batchId: found.id, status: found.status, updatedAt: this.now() });
        continue;
      }
      const batch = await this.o.api.retrieve(s.batchId!);
      if (!TERMINAL_BATCH_STATUSES.has(batch.status)) continue;
      await this.finish(key, s, batch);
    }
  }

  private async finish(key: string, s: BatchSubmission, batch: Awaited<ReturnType<OpenAIBatchApi['retrieve']>>): Promise<void> {
    const answered = new Set<string>();
    if (batch.output_file_id) {
      for (const line of await this.o.api.lines(batch.output_file_id)) {
        const body = line.response?.body;
        if (!body || (line.response?.status_code ?? 500) >= 300) continue;
        const usage = (body.usage ?? {}) as { input_tokens?: number; output_tokens?: number; input_tokens_details?: { cached_tokens?: number } };
        const tokens = {
          inputTokens: usage.input_tokens ?? 0,
          outputTokens: usage.output_tokens ?? 0,
          cachedInputTokens: usage.input_tokens_details?.cached_tokens ?? 0,
        };
        await this.o.results.put(line.custom_id, {
          raw: responsesOutputText(body),
          error: null,
          model: String(body.model ?? this.o.model),
          ...tokens,
          costUsd: costUsd(this.o.model, tokens, this.o.prices, 'batch'),
          batchId: batch.id,
          attempts: s.attempt,
        });
        answered.add(line.custom_id);
        this.stats.results++;
      }
    }
    const why = new Map<string, string>();
    if (batch.error_file_id) {
      for (const line of await this.o.api.lines(batch.error_file_id)) {
        const e = line.error ?? (line.response?.body as { error?: { code?: string; message?: string } } | undefined)?.error;
        why.set(line.custom_id, [e?.code, e?.message].filter(Boolean).join(': ') || `HTTP ${line.response?.status_code ?? '?'}`);
      }
    }
    const failed = s.customIds.filter((id) => !answered.has(id));
    for (const id of failed) {
      // Kept only if nothing answered it meanwhile (another submission of a retry).
      const prev = await this.o.results.get(id);
      if (prev?.raw) continue;
      await this.o.results.put(id, {
        raw: null,
        error: `batch ${batch.id} ${batch.status}: ${why.get(id) ?? 'no answer'}`,
        model: this.o.model,
        inputTokens: 0,
        cachedInputTokens: 0,
        outputTokens: 0,
        costUsd: 0,
        batchId: batch.id,
        attempts: s.attempt,
      });
    }
    this.stats.failedRequests += failed.length;
    if (failed.length)
      this.o.logger.warn({ batchId: batch.id, status: batch.status, failed: failed.length }, 'batch ended with requests unanswered; they are asked for again');
    await this.o.submissions.put(key, { ...s, state: 'DONE', status: batch.status, updatedAt: this.now() });
    for (const id of s.customIds) this.inFlight.delete(id);
    this.version++;
  }
}
