// Wraps any LlmProvider with the same behaviour under load for every API: a concurrency
// limit, requests/min and tokens/min buckets, Retry-After holds, per-call timeouts,
// retries with jittered backoff, a circuit breaker that makes calls wait during an outage,
// and cost accounting (prom-client metrics and totals()).
//
// One instance per provider/model in the process (shared by every stage and record) is
// what makes the limits global; sharing is the caller's job.
//
// Every attempt goes through, in order: a concurrency slot -> any Retry-After hold -> the
// breaker (wait while open, or while the half-open probe is out) -> the RPM/TPM buckets ->
// the call with its timeout. The slot is given back between attempts, so a call sleeping
// off its backoff does not hold up others.
//
// Retry budget: an attempt counts against maxAttempts only if the breaker is closed after
// its failure is recorded. The failure that opens the breaker, failures of calls that were
// already in flight when it opened and failed probes do not count: during an outage calls
// wait for the breaker rather than use up attempts and be dead-lettered. A 429 carrying
// Retry-After does not count either: the call waits as told.
//
// Oversize requests (an estimate above the tokens/min capacity) wait for a full bucket,
// then go and leave the bucket in debt; they never wait forever and never fail for it.
//
// The config is resilience-config.ts, the token estimates token-estimate.ts, the totals and
// metrics provider-metrics.ts.
import { asyncScheduler, Observable, SchedulerLike } from 'rxjs';
import { Registry, register as defaultRegistry } from 'prom-client';
import { BreakerState, BreakerTicket, CircuitBreaker } from '../../core/circuit-breaker';
import { errorMessage, isRetriable } from '../../core/errors';
import { Logger, silentLogger } from '../../core/logger';
import { backoffDelay, RetryPolicy } from '../../core/retry';
import { Release, Semaphore } from '../../core/semaphore';
import { TokenBucket } from '../../core/token-bucket';
import { costUsd, PriceTable, priceFor, withDefaultPrices } from './pricing';
import { CompletionRequest, CompletionResult, LlmProvider, ProviderError, ProviderErrorKind } from './provider';
import { ProviderMeter, ProviderTotals } from './provider-metrics';
import { ResilienceConfig, resilienceConfig, ResilienceConfigInput } from './resilience-config';
import { estimateTokens } from './token-estimate';

// Importers of this module keep finding these here.
export { resilienceConfig } from './resilience-config';
export type { ResilienceConfig, ResilienceConfigInput } from './resilience-config';
export { estimateTokens, imageTokenEstimate } from './token-estimate';
export type { ProviderTotals } from './provider-metrics';

export interface ResilientProviderOptions {
  /** Prices on top of DEFAULT_PRICES. */
  prices?: PriceTable;
  logger?: Logger;
  /** Where the metrics go; prom-client's default registry if unset. */
  registry?: Registry;
  /** Time for timeouts, backoff, buckets and the breaker; tests pass virtual or fake time. */
  scheduler?: SchedulerLike;
  /** For backoff jitter. */
  random?: () => number;
}

export interface ResilientResult extends CompletionResult {
  costUsd: number;
  /** Attempts made, including ones that did not count against maxAttempts. */
  attempts: number;
  /** Wall time of the whole call: queueing, rate-limit and breaker waits, retries. */
  latencyMs: number;
}

/** A call that used up its attempts; retriable, since the cause (e.g. overload) may pass. */
export class ProviderRetriesExhausted extends ProviderError {
  constructor(
    readonly provider: string,
    readonly model: string,
    readonly attempts: number,
    readonly maxAttempts: number,
    readonly lastError: ProviderError,
  ) {
    super(
      `${provider}/${model}: gave up after ${attempts} attempts (${maxAttempts} counted while the circuit was closed); last error: ${lastError.message}`,
      lastError.kind,
      { status: lastError.status, retryAfterMs: lastError.retryAfterMs, cause: lastError },
    );
  }
}

// Each unknown model is warned about once per process, however many providers use it.
const warnedUnpriced = new Set<string>();

export class ResilientProvider implements LlmProvider {
  readonly kind: string;
  readonly model: string;
  readonly config: ResilienceConfig;
  /** 'closed' | 'open' | 'half-open', current value first; a processor pauses its input while 'open'. */
  readonly state$: Observable<BreakerState>;

  private readonly semaphore: Semaphore;
  private readonly rpm?: TokenBucket;
  private readonly tpm?: TokenBucket;
  private readonly breaker: CircuitBreaker;
  private readonly prices: PriceTable;
  private readonly logger: Logger;
  private readonly scheduler: SchedulerLike;
  private readonly random: () => number;
  private readonly policy: RetryPolicy;
  private readonly meter: ProviderMeter;
  private holdUntil = 0;
  private lastFailure = '';

  constructor(
    private readonly inner: LlmProvider,
    config: ResilienceConfigInput = {},
    opts: ResilientProviderOptions = {},
  ) {
    this.kind = inner.kind;
    this.model = inner.model;
    this.config = resilienceConfig.parse(config);
    this.scheduler = opts.scheduler ?? asyncScheduler;
    this.random = opts.random ?? Math.random;
    this.logger = (opts.logger ?? silentLogger).child({ provider: this.kind, model: this.model });
    this.prices = withDefaultPrices(opts.prices);
    this.policy = { maxAttempts: this.config.maxAttempts, ...this.config.backoff };
    this.meter = new ProviderMeter(this.kind, this.model, opts.registry ?? defaultRegistry);

    const now = () => this.scheduler.now();
    this.semaphore = new Semaphore(this.config.concurrency);
    if (this.config.requestsPerMinute !== undefined) this.rpm = TokenBucket.perMinute(this.config.requestsPerMinute, now);
    if (this.config.tokensPerMinute !== undefined) this.tpm = TokenBucket.perMinute(this.config.tokensPerMinute, now);
    this.breaker = new CircuitBreaker({
      ...this.config.breaker,
      scheduler: this.scheduler,
      onTransition: (from, to, info) => this.onBreaker(from, to, info),
    });
    this.state$ = this.breaker.state$;
    this.meter.breakerState('closed');

    if (!priceFor(this.model, this.prices) && !warnedUnpriced.has(this.model)) {
      warnedUnpriced.add(this.model);
      this.logger.warn({ known: Object.keys(this.prices) }, `no price for model ${this.model}: its calls are counted at $0 (add it under prices)`);
    }
  }

  get state(): BreakerState {
    return this.breaker.state;
  }

  totals(): ProviderTotals {
    return this.meter.totals();
  }

  /** Stops the breaker's timer; calls still waiting on the breaker fail (retriable). */
  close(): void {
    this.breaker.dispose();
  }

  async complete(req: CompletionRequest): Promise<ResilientResult> {
    const started = this.now();
    const signal = req.signal;
    const estimate = estimateTokens(req, this.config.defaultOutputTokens);
    let attempts = 0;
    let counted = 0;
    try {
      for (;;) {
        const { release, ticket } = await this.admit(estimate, signal);
        attempts += 1;
        if (attempts > 1) this.meter.count('retries');
        let result: CompletionResult;
        try {
          result = await this.attempt(req);
        } catch (err) {
          release();
          const failure = this.judge(err, ticket, signal);
          if (!failure.retriable) throw failure;
          // A 429 that says when to come back is the server pacing us, not the request
          // failing: like an outage, it holds the call without using up its attempts.
          const paced = failure.kind === 'rate-limit' && failure.retryAfterMs !== undefined;
          if (this.breaker.state === 'closed' && !paced) counted += 1;
          if (failure.kind === 'rate-limit') {
            // This call waits out the 429 in its retry delay; Retry-After also holds the others.
            this.meter.countWait('429');
            if (failure.retryAfterMs !== undefined) this.hold(failure.retryAfterMs);
          }
          if (counted >= this.config.maxAttempts) throw new ProviderRetriesExhausted(this.kind, this.model, attempts, this.config.maxAttempts, failure);
          // With the breaker open or half-open there is no point in a backoff: the next
          // admission waits for the breaker anyway.
          if (this.breaker.state === 'closed') {
            const delay = Math.max(backoffDelay(this.policy, counted, this.random), failure.retryAfterMs ?? 0);
            await this.sleep(delay, signal).catch((e) => {
              throw this.waitFailed(e, signal);
            });
          }
          continue;
        }
        release();
        this.breaker.success(ticket);
        return this.settle(result, estimate, attempts, started);
      }
    } catch (err) {
      this.meter.failed();
      throw err;
    }
  }

  /** Waits for a slot, any Retry-After hold, the breaker and the buckets, in that order. */
  private async admit(estimate: number, signal?: AbortSignal): Promise<{ release: Release; ticket: BreakerTicket }> {
    const release = await this.semaphore.acquire(signal).catch((err) => {
      throw this.waitFailed(err, signal);
    });
    let reserved = false;
    let heldByRetryAfter = false;
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const holdMs = this.holdUntil - this.now();
        if (holdMs > 0) {
          if (!heldByRetryAfter) this.meter.countWait('retry-after');
          heldByRetryAfter = true;
          await this.sleep(holdMs, signal);
          continue;
        }
        if (!this.breaker.canAdmit()) {
          await this.breaker.whenChanged(signal);
          continue;
        }
        if (!reserved) {
          reserved = true;
          const rpmWait = this.rpm?.reserve(1) ?? 0;
          const tpmWait = this.tpm?.reserve(estimate) ?? 0;
          const wait = Math.max(rpmWait, tpmWait);
          if (wait > 0) {
            this.meter.countWait(rpmWait >= tpmWait ? 'rpm' : 'tpm');
            this.logger.debug({ waitMs: Math.round(wait), estimate }, 'rate limit: pacing call');
            await this.sleep(wait, signal);
            continue;
          }
        }
        // canAdmit() held in this same tick, so this gives a ticket (and claims the probe).
        return { release, ticket: this.breaker.tryAdmit()! };
      }
    } catch (err) {
      release();
      // The call never went out: give its reservation back.
      if (reserved) {
        this.rpm?.adjust(1);
        this.tpm?.adjust(estimate);
      }
      throw this.waitFailed(err, signal);
    }
  }

  /** One call with the per-attempt timeout and the caller's signal combined. */
  private async attempt(req: CompletionRequest): Promise<CompletionResult> {
    const signal = req.signal;
    const controller = new AbortController();
    let stop!: (err: unknown) => void;
    // Rejects on timeout or caller abort, so a provider that ignores its signal cannot hang us.
    const stopped = new Promise<never>((_, reject) => (stop = reject));
    stopped.catch(() => undefined);
    const timeoutMs = Math.max(this.config.timeoutMs, this.inner.minTimeoutMs ?? 0);
    const timeout = new ProviderError(`${this.kind}/${this.model}: no answer within ${timeoutMs} ms`, 'timeout');
    const timer = this.scheduler.schedule(() => {
      controller.abort(timeout);
      stop(timeout);
    }, timeoutMs);
    const onAbort = () => {
      controller.abort(signal!.reason);
      stop(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const call = Promise.resolve().then(() => this.inner.complete({ ...req, signal: controller.signal }));
      // If we stop waiting, the call's late rejection must not surface as unhandled.
      call.catch(() => undefined);
      return await Promise.race([call, stopped]);
    } catch (err) {
      // The provider may report our own abort as 'aborted'; it was a timeout.
      if (controller.signal.reason === timeout && !signal?.aborted) throw timeout;
      throw err;
    } finally {
      timer.unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Classifies a failed attempt, tells the breaker, and returns the error to retry on or
   * throw. Caller aborts and unknown (non-retriable) errors leave the breaker untouched.
   */
  private judge(err: unknown, ticket: BreakerTicket, signal?: AbortSignal): ProviderError {
    if (signal?.aborted) {
      this.breaker.release(ticket);
      return this.abortedError(signal.reason);
    }
    let failure: ProviderError;
    if (err instanceof ProviderError && err.kind !== 'aborted') {
      failure = err;
    } else if (err instanceof ProviderError || isRetriable(err)) {
      // An abort nobody asked for, or a raw socket error: the connection went away.
      failure = new ProviderError(`${this.kind}/${this.model}: ${errorMessage(err)}`, 'network', { cause: err });
    } else {
      // Not a classified provider failure (a bug, a bad request built locally): no retry,
      // and nothing learned about the server.
      this.breaker.release(ticket);
      throw err;
    }
    if (DOWN_KINDS.has(failure.kind)) {
      this.lastFailure = failure.message;
      this.breaker.failure(ticket);
    } else {
      // 429, 400, 401: the server is up and answering.
      this.breaker.success(ticket);
    }
    return failure;
  }

  private settle(result: CompletionResult, estimate: number, attempts: number, started: number): ResilientResult {
    const inputTokens = finiteOrZero(result.usage?.inputTokens);
    const outputTokens = finiteOrZero(result.usage?.outputTokens);
    const cachedInputTokens = Math.min(finiteOrZero(result.usage?.cachedInputTokens), inputTokens);
    const tier = result.tier ?? 'default';
    // Correct the reservation with what the call really used.
    this.tpm?.adjust(estimate - (inputTokens + outputTokens));
    const usage = { inputTokens, outputTokens, cachedInputTokens };
    const cost = costUsd(this.model, usage, this.prices, tier);
    this.meter.succeeded(inputTokens, outputTokens, cost, cachedInputTokens, tier);
    return { ...result, usage, tier, costUsd: cost, attempts, latencyMs: this.now() - started };
  }

  /** Holds every call to this provider until now + ms (a 429 with Retry-After). */
  private hold(ms: number): void {
    const now = this.now();
    const until = now + Math.max(0, ms);
    if (until <= this.holdUntil) return;
    const wasHeld = this.holdUntil > now;
    this.holdUntil = until;
    if (!wasHeld) this.logger.warn({ retryAfterMs: ms, until: new Date(until).toISOString() }, 'rate limited (429 with Retry-After): holding all calls');
  }

  private onBreaker(from: BreakerState, to: BreakerState, info: { failures: number; cooldownMs: number }): void {
    this.meter.breakerState(to);
    if (to === 'open') {
      this.meter.count('breakerOpens');
      const why = from === 'half-open' ? 'probe failed' : `${info.failures} consecutive failures`;
      this.logger.warn({ cooldownMs: info.cooldownMs, lastError: this.lastFailure }, `circuit open (${why}): calls wait ${info.cooldownMs} ms before a probe`);
    } else if (to === 'half-open') {
      this.logger.info('circuit half-open: sending one probe call');
    } else {
      this.logger.info('circuit closed: provider answering again');
    }
  }

  private waitFailed(err: unknown, signal?: AbortSignal): unknown {
    if (err instanceof ProviderError) return err;
    if (signal?.aborted) return this.abortedError(signal.reason);
    // The breaker was disposed (shutdown) while we waited: worth another try later.
    return new ProviderError(`${this.kind}/${this.model}: ${errorMessage(err)}`, 'aborted', { cause: err });
  }

  private abortedError(reason: unknown): ProviderError {
    return new ProviderError(`${this.kind}/${this.model}: call aborted by the caller`, 'aborted', { cause: reason });
  }

  private now(): number {
    return this.scheduler.now();
  }

  /** Resolves after `ms` on the scheduler; rejects with the signal's reason on abort. */
  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        sub.unsubscribe();
        reject(signal!.reason);
      };
      const sub = this.scheduler.schedule(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Failures that suggest the server is down; only these move the breaker. */
const DOWN_KINDS: ReadonlySet<ProviderErrorKind> = new Set<ProviderErrorKind>(['server', 'timeout', 'network']);

function finiteOrZero(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}
