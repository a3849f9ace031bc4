// A provider whose calls go through Batch API jobs: complete() answers from the stored batch
// result of the same request (same body: same custom id), or queues the request and throws
// BatchPending so the caller parks its record until results arrive. For nodes whose model
// calls need nothing between them but the answers (the reward judges); the verifier keeps
// its own route, keyed by its verdict-cache keys.
import { sha256Hex } from '../../core/ids';
import { ValidationError } from '../../core/errors';
import type { BatchQueue } from './batch-queue';
import type { CompletionRequest, CompletionResult } from './provider';
import type { BatchResult } from '../../schemas/generated/types';

/** The call is in a Batch API job (queued now or earlier): its record waits for it. */
export class BatchPending extends Error {
  constructor(readonly what: string) {
    super(`${what}: waiting for a batch result`);
  }
}

/** A batched call failed in every submission (expired, failed): its record is dead-lettered. */
export class BatchCallFailed extends ValidationError {
  constructor(what: string, reason: string, attempts: number) {
    super(`${what}: batch call failed ${attempts} time(s), last: ${reason}`);
  }
}

/** True when `err` (or a cause along its chain) is a BatchPending. */
export function isBatchPending(err: unknown): boolean {
  for (let e = err as { cause?: unknown } | undefined, i = 0; e && i < 8; e = e.cause as { cause?: unknown } | undefined, i++) {
    if (e instanceof BatchPending) return true;
  }
  return false;
}

/**
 * A batched call's answer: the stored result `found` when it has one; otherwise the call is
 * queued (unless it is out already, or, after a failure, as the next attempt) and the
 * caller waits (BatchPending), until `maxAttempts` failed submissions end it (BatchCallFailed).
 */
export async function batchAnswer(
  queue: Pick<BatchQueue, 'isPending' | 'request'>,
  id: string,
  found: BatchResult | undefined,
  body: () => Promise<Record<string, unknown>> | Record<string, unknown>,
  maxAttempts: number,
  what: string,
): Promise<BatchResult & { raw: string }> {
  if (found?.raw != null) return found as BatchResult & { raw: string };
  if (found?.error && found.attempts >= maxAttempts) throw new BatchCallFailed(what, found.error, found.attempts);
  if (!queue.isPending(id)) queue.request(id, await body(), found?.error ? found.attempts + 1 : 1);
  throw new BatchPending(what);
}

export class BatchRoutedLlm {
  constructor(
    readonly kind: string,
    readonly model: string,
    private readonly queue: Pick<BatchQueue, 'result' | 'isPending' | 'request'>,
    /** The body the synchronous provider would send. */
    private readonly bodyOf: (req: CompletionRequest) => Record<string, unknown>,
    private readonly maxAttempts: number,
  ) {}

  async complete(req: CompletionRequest): Promise<CompletionResult & { costUsd: number }> {
    const body = this.bodyOf(req);
    const id = `llm:${sha256Hex(JSON.stringify(body))}`;
    const r = await batchAnswer(this.queue, id, await this.queue.result(id), () => body, this.maxAttempts, `${this.kind} ${this.model}`);
    return {
      text: r.raw,
      model: r.model,
      tier: 'batch',
      usage: { inputTokens: r.inputTokens, cachedInputTokens: r.cachedInputTokens, outputTokens: r.outputTokens },
      costUsd: r.costUsd,
    };
  }
}
