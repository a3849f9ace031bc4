// A provider whose calls go through Batch API jobs: complete() answers from the stored batch
// result of the same request (same body: same custom id), or queues the request and throws
// BatchPending so the caller parks its record until results arrive. For nodes whose model
// calls need nothing between them but the answers (the reward judges); the verifier keeps
// its own route, keyed by its verdict-cache keys.
import { sha256Hex } from '../../core/ids';
import { ValidationError } from '../../core/errors';
import type { BatchQueue } from './batch-queue';
import type { CompletionRequest, CompletionResult } from './provider';

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
    const r = await this.queue.result(id);
    if (r?.raw != null) {
      return {
        text: r.raw,
        model: r.model,
        tier: 'batch',
        usage: { inputTokens: r.inputTokens, cachedInputTokens: r.cachedInputTokens, outputTokens: r.outputTokens },
        costUsd: r.costUsd,
      };
    }
    if (r?.error && r.attempts >= this.maxAttempts) throw new BatchCallFailed(`${this.kind} ${this.model}`, r.error, r.attempts);
    if (!this.queue.isPending(id)) this.queue.request(id, body, r?.error ? r.attempts + 1 : 1);
    throw new BatchPending(`${this.kind} ${this.model}`);
  }
}
