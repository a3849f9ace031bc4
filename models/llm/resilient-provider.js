"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.ResilientProvider = exports.ProviderRetriesExhausted = exports.resilienceConfig = void 0;
exports.imageTokenEstimate = imageTokenEstimate;
exports.estimateTokens = estimateTokens;
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
const rxjs_1 = require("rxjs");
const prom_client_1 = require("prom-client");
const zod_1 = require("zod");
const circuit_breaker_1 = require("../../core/circuit-breaker");
const errors_1 = require("../../core/errors");
const logger_1 = require("../../core/logger");
const retry_1 = require("../../core/retry");
const semaphore_1 = require("../../core/semaphore");
const token_bucket_1 = require("../../core/token-bucket");
const pricing_1 = require("./pricing");
const provider_1 = require("./provider");
exports.resilienceConfig = zod_1.z
    .object({
    /** Calls in flight at once through this provider (all stages and records). */
    concurrency: zod_1.z.number().int().min(1).max(100_000).default(32),
    /** Requests per minute; unset = unlimited. */
    requestsPerMinute: zod_1.z.number().positive().optional(),
    /** Input + output tokens per minute; unset = unlimited. */
    tokensPerMinute: zod_1.z.number().positive().optional(),
    /** Per attempt; the call is aborted and retried as a timeout. */
    timeoutMs: zod_1.z.number().int().min(1).default(60_000),
    /** Attempts per call, counted only while the breaker is closed. */
    maxAttempts: zod_1.z.number().int().min(1).default(8),
    /** Output tokens assumed for the TPM estimate when a request sets no maxOutputTokens. */
    defaultOutputTokens: zod_1.z.number().int().min(0).default(1024),
    backoff: zod_1.z
        .object({
        initialDelayMs: zod_1.z.number().min(0).default(500),
        maxDelayMs: zod_1.z.number().min(0).default(30_000),
        multiplier: zod_1.z.number().min(1).default(2),
        /** Fraction of each delay drawn at random, so retries of many calls do not align. */
        jitter: zod_1.z.number().min(0).max(1).default(0.2),
    })
        .strict()
        .refine((b) => b.maxDelayMs >= b.initialDelayMs, { message: 'backoff.maxDelayMs must be >= backoff.initialDelayMs', path: ['maxDelayMs'] })
        .prefault({}),
    breaker: zod_1.z
        .object({
        /** Consecutive server/timeout/network failures that open the breaker. */
        failureThreshold: zod_1.z.number().int().min(1).default(5),
        cooldownMs: zod_1.z.number().int().min(0).default(30_000),
        /** Cap of the cooldown, which doubles on each failed probe. */
        maxCooldownMs: zod_1.z.number().int().min(0).default(300_000),
    })
        .strict()
        .refine((b) => b.maxCooldownMs >= b.cooldownMs, { message: 'breaker.maxCooldownMs must be >= breaker.cooldownMs', path: ['maxCooldownMs'] })
        .prefault({}),
})
    .strict();
/** A call that used up its attempts; retriable, since the cause (e.g. overload) may pass. */
class ProviderRetriesExhausted extends provider_1.ProviderError {
    provider;
    model;
    attempts;
    maxAttempts;
    lastError;
    constructor(provider, model, attempts, maxAttempts, lastError) {
        super(`${provider}/${model}: gave up after ${attempts} attempts (${maxAttempts} counted while the circuit was closed); last error: ${lastError.message}`, lastError.kind, { status: lastError.status, retryAfterMs: lastError.retryAfterMs, cause: lastError });
        this.provider = provider;
        this.model = model;
        this.attempts = attempts;
        this.maxAttempts = maxAttempts;
        this.lastError = lastError;
    }
}
exports.ProviderRetriesExhausted = ProviderRetriesExhausted;
// OpenAI's patch-based image input: 32x32 px patches, images scaled down to at most 1536.
const IMAGE_PATCH_PX = 32;
const MAX_IMAGE_PATCHES = 1536;
/** Input image tokens, estimated as OpenAI counts patches (a fair upper bound for Gemini's 258-token tiles). */
function imageTokenEstimate(width, height) {
    const patches = Math.ceil(Math.max(1, width) / IMAGE_PATCH_PX) * Math.ceil(Math.max(1, height) / IMAGE_PATCH_PX);
    return Math.min(patches, MAX_IMAGE_PATCHES);
}
/** Tokens reserved before a call: text chars/4 + image patches + the output allowance. */
function estimateTokens(req, defaultOutputTokens = 1024) {
    let chars = req.instructions?.length ?? 0;
    let images = 0;
    for (const part of req.parts) {
        if (part.type === 'text')
            chars += part.text.length;
        else
            images += imageTokenEstimate(part.width, part.height);
    }
    if (req.repair)
        chars += req.repair.previousAnswer.length + req.repair.problem.length;
    // Structured-output schemas are sent with the request and billed as input.
    if (req.output)
        chars += JSON.stringify(req.output.schema).length;
    return Math.ceil(chars / 4) + images + (req.maxOutputTokens ?? defaultOutputTokens);
}
// Each unknown model is warned about once per process, however many providers use it.
const warnedUnpriced = new Set();
const BREAKER_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 };
function metricsIn(registry) {
    // Several providers (and tests) share a registry; prom-client refuses a second
    // registration of a name, so reuse what is there.
    const counter = (name, help, labelNames) => registry.getSingleMetric(name) ?? new prom_client_1.Counter({ name, help, labelNames, registers: [registry] });
    return {
        calls: counter('valor_llm_calls_total', 'LLM calls by outcome (ok = returned a result, error = threw)', ['provider', 'model', 'outcome']),
        inputTokens: counter('valor_llm_input_tokens_total', 'Input tokens reported by the API', ['provider', 'model']),
        outputTokens: counter('valor_llm_output_tokens_total', 'Output tokens reported by the API', ['provider', 'model']),
        cost: counter('valor_llm_cost_usd_total', 'USD spent, from the price table', ['provider', 'model']),
        retries: counter('valor_llm_retries_total', 'Attempts after the first', ['provider', 'model']),
        rateLimitWaits: counter('valor_llm_rate_limit_waits_total', 'Waits for rate limits: 429 (the call that got it), retry-after (others held), rpm/tpm (bucket pacing)', ['provider', 'model', 'reason']),
        breakerOpens: counter('valor_llm_breaker_opens_total', 'Times the circuit breaker opened', ['provider', 'model']),
        breakerState: (registry.getSingleMetric('valor_llm_breaker_state') ??
            new prom_client_1.Gauge({ name: 'valor_llm_breaker_state', help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open', labelNames: ['provider', 'model'], registers: [registry] })),
    };
}
class ResilientProvider {
    inner;
    kind;
    model;
    config;
    /** 'closed' | 'open' | 'half-open', current value first; a processor pauses its input while 'open'. */
    state$;
    semaphore;
    rpm;
    tpm;
    breaker;
    prices;
    logger;
    scheduler;
    random;
    policy;
    metrics;
    labels;
    holdUntil = 0;
    lastFailure = '';
    sums = {
        calls: 0, failures: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, retries: 0, rateLimitWaits: 0, breakerOpens: 0,
    };
    constructor(inner, config = {}, opts = {}) {
        this.inner = inner;
        this.kind = inner.kind;
        this.model = inner.model;
        this.config = exports.resilienceConfig.parse(config);
        this.scheduler = opts.scheduler ?? rxjs_1.asyncScheduler;
        this.random = opts.random ?? Math.random;
        this.logger = (opts.logger ?? logger_1.silentLogger).child({ provider: this.kind, model: this.model });
        this.prices = (0, pricing_1.withDefaultPrices)(opts.prices);
        this.policy = { maxAttempts: this.config.maxAttempts, ...this.config.backoff };
        this.labels = { provider: this.kind, model: this.model };
        this.metrics = metricsIn(opts.registry ?? prom_client_1.register);
        const now = () => this.scheduler.now();
        this.semaphore = new semaphore_1.Semaphore(this.config.concurrency);
        if (this.config.requestsPerMinute !== undefined)
            this.rpm = token_bucket_1.TokenBucket.perMinute(this.config.requestsPerMinute, now);
        if (this.config.tokensPerMinute !== undefined)
            this.tpm = token_bucket_1.TokenBucket.perMinute(this.config.tokensPerMinute, now);
        this.breaker = new circuit_breaker_1.CircuitBreaker({
            ...this.config.breaker,
            scheduler: this.scheduler,
            onTransition: (from, to, info) => this.onBreaker(from, to, info),
        });
        this.state$ = this.breaker.state$;
        this.metrics.breakerState.set(this.labels, 0);
        if (!(0, pricing_1.priceFor)(this.model, this.prices) && !warnedUnpriced.has(this.model)) {
            warnedUnpriced.add(this.model);
            this.logger.warn({ known: Object.keys(this.prices) }, `no price for model ${this.model}: its calls are counted at $0 (add it under prices)`);
        }
    }
    get state() {
        return this.breaker.state;
    }
    totals() {
        return { provider: this.kind, model: this.model, ...this.sums };
    }
    /** Stops the breaker's timer; calls still waiting on the breaker fail (retriable). */
    close() {
        this.breaker.dispose();
    }
    async complete(req) {
        const started = this.now();
        const signal = req.signal;
        const estimate = estimateTokens(req, this.config.defaultOutputTokens);
        let attempts = 0;
        let counted = 0;
        try {
            for (;;) {
                const { release, ticket } = await this.admit(estimate, signal);
                attempts += 1;
                if (attempts > 1)
                    this.count('retries');
                let result;
                try {
                    result = await this.attempt(req);
                }
                catch (err) {
                    release();
                    const failure = this.judge(err, ticket, signal);
                    if (!failure.retriable)
                        throw failure;
                    // A 429 that says when to come back is the server pacing us, not the request
                    // failing: like an outage, it holds the call without using up its attempts.
                    const paced = failure.kind === 'rate-limit' && failure.retryAfterMs !== undefined;
                    if (this.breaker.state === 'closed' && !paced)
                        counted += 1;
                    if (failure.kind === 'rate-limit') {
                        // This call waits out the 429 in its retry delay; Retry-After also holds the others.
                        this.countWait('429');
                        if (failure.retryAfterMs !== undefined)
                            this.hold(failure.retryAfterMs);
                    }
                    if (counted >= this.config.maxAttempts)
                        throw new ProviderRetriesExhausted(this.kind, this.model, attempts, this.config.maxAttempts, failure);
                    // With the breaker open or half-open there is no point in a backoff: the next
                    // admission waits for the breaker anyway.
                    if (this.breaker.state === 'closed') {
                        const delay = Math.max((0, retry_1.backoffDelay)(this.policy, counted, this.random), failure.retryAfterMs ?? 0);
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
        }
        catch (err) {
            this.sums.failures += 1;
            this.metrics.calls.inc({ ...this.labels, outcome: 'error' });
            throw err;
        }
    }
    /** Waits for a slot, any Retry-After hold, the breaker and the buckets, in that order. */
    async admit(estimate, signal) {
        const release = await this.semaphore.acquire(signal).catch((err) => {
            throw this.waitFailed(err, signal);
        });
        let reserved = false;
        let heldByRetryAfter = false;
        try {
            for (;;) {
                if (signal?.aborted)
                    throw signal.reason;
                const holdMs = this.holdUntil - this.now();
                if (holdMs > 0) {
                    if (!heldByRetryAfter)
                        this.countWait('retry-after');
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
                        this.countWait(rpmWait >= tpmWait ? 'rpm' : 'tpm');
                        this.logger.debug({ waitMs: Math.round(wait), estimate }, 'rate limit: pacing call');
                        await this.sleep(wait, signal);
                        continue;
                    }
                }
                // canAdmit() held in this same tick, so this gives a ticket (and claims the probe).
                return { release, ticket: this.breaker.tryAdmit() };
            }
        }
        catch (err) {
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
    async attempt(req) {
        const signal = req.signal;
        const controller = new AbortController();
        let stop;
        // Rejects on timeout or caller abort, so a provider that ignores its signal cannot hang us.
        const stopped = new Promise((_, reject) => (stop = reject));
        stopped.catch(() => undefined);
        const timeout = new provider_1.ProviderError(`${this.kind}/${this.model}: no answer within ${this.config.timeoutMs} ms`, 'timeout');
        const timer = this.scheduler.schedule(() => {
            controller.abort(timeout);
            stop(timeout);
        }, this.config.timeoutMs);
        const onAbort = () => {
            controller.abort(signal.reason);
            stop(signal.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
            const call = Promise.resolve().then(() => this.inner.complete({ ...req, signal: controller.signal }));
            // If we stop waiting, the call's late rejection must not surface as unhandled.
            call.catch(() => undefined);
            return await Promise.race([call, stopped]);
        }
        catch (err) {
            // The provider may report our own abort as 'aborted'; it was a timeout.
            if (controller.signal.reason === timeout && !signal?.aborted)
                throw timeout;
            throw err;
        }
        finally {
            timer.unsubscribe();
            signal?.removeEventListener('abort', onAbort);
        }
    }
    /**
     * Classifies a failed attempt, tells the breaker, and returns the error to retry on or
     * throw. Caller aborts and unknown (non-retriable) errors leave the breaker untouched.
     */
    judge(err, ticket, signal) {
        if (signal?.aborted) {
            this.breaker.release(ticket);
            return this.abortedError(signal.reason);
        }
        let failure;
        if (err instanceof provider_1.ProviderError && err.kind !== 'aborted') {
            failure = err;
        }
        else if (err instanceof provider_1.ProviderError || (0, errors_1.isRetriable)(err)) {
            // An abort nobody asked for, or a raw socket error: the connection went away.
            failure = new provider_1.ProviderError(`${this.kind}/${this.model}: ${(0, errors_1.errorMessage)(err)}`, 'network', { cause: err });
        }
        else {
            // Not a classified provider failure (a bug, a bad request built locally): no retry,
            // and nothing learned about the server.
            this.breaker.release(ticket);
            throw err;
        }
        if (DOWN_KINDS.has(failure.kind)) {
            this.lastFailure = failure.message;
            this.breaker.failure(ticket);
        }
        else {
            // 429, 400, 401: the server is up and answering.
            this.breaker.success(ticket);
        }
        return failure;
    }
    settle(result, estimate, attempts, started) {
        const inputTokens = finiteOrZero(result.usage?.inputTokens);
        const outputTokens = finiteOrZero(result.usage?.outputTokens);
        // Correct the reservation with what the call really used.
        this.tpm?.adjust(estimate - (inputTokens + outputTokens));
        const cost = (0, pricing_1.costUsd)(this.model, { inputTokens, outputTokens }, this.prices);
        this.sums.calls += 1;
        this.sums.inputTokens += inputTokens;
        this.sums.outputTokens += outputTokens;
        this.sums.costUsd += cost;
        this.metrics.calls.inc({ ...this.labels, outcome: 'ok' });
        this.metrics.inputTokens.inc(this.labels, inputTokens);
        this.metrics.outputTokens.inc(this.labels, outputTokens);
        this.metrics.cost.inc(this.labels, cost);
        return { ...result, usage: { inputTokens, outputTokens }, costUsd: cost, attempts, latencyMs: this.now() - started };
    }
    /** Holds every call to this provider until now + ms (a 429 with Retry-After). */
    hold(ms) {
        const now = this.now();
        const until = now + Math.max(0, ms);
        if (until <= this.holdUntil)
            return;
        const wasHeld = this.holdUntil > now;
        this.holdUntil = until;
        if (!wasHeld)
            this.logger.warn({ retryAfterMs: ms, until: new Date(until).toISOString() }, 'rate limited (429 with Retry-After): holding all calls');
    }
    onBreaker(from, to, info) {
        this.metrics.breakerState.set(this.labels, BREAKER_STATE_VALUE[to]);
        if (to === 'open') {
            this.count('breakerOpens');
            const why = from === 'half-open' ? 'probe failed' : `${info.failures} consecutive failures`;
            this.logger.warn({ cooldownMs: info.cooldownMs, lastError: this.lastFailure }, `circuit open (${why}): calls wait ${info.cooldownMs} ms before a probe`);
        }
        else if (to === 'half-open') {
            this.logger.info('circuit half-open: sending one probe call');
        }
        else {
            this.logger.info('circuit closed: provider answering again');
        }
    }
    count(what) {
        this.sums[what] += 1;
        this.metrics[what].inc(this.labels);
    }
    countWait(reason) {
        this.sums.rateLimitWaits += 1;
        this.metrics.rateLimitWaits.inc({ ...this.labels, reason });
    }
    waitFailed(err, signal) {
        if (err instanceof provider_1.ProviderError)
            return err;
        if (signal?.aborted)
            return this.abortedError(signal.reason);
        // The breaker was disposed (shutdown) while we waited: worth another try later.
        return new provider_1.ProviderError(`${this.kind}/${this.model}: ${(0, errors_1.errorMessage)(err)}`, 'aborted', { cause: err });
    }
    abortedError(reason) {
        return new provider_1.ProviderError(`${this.kind}/${this.model}: call aborted by the caller`, 'aborted', { cause: reason });
    }
    now() {
        return this.scheduler.now();
    }
    /** Resolves after `ms` on the scheduler; rejects with the signal's reason on abort. */
    sleep(ms, signal) {
        if (signal?.aborted)
            return Promise.reject(signal.reason);
        if (ms <= 0)
            return Promise.resolve();
        return new Promise((resolve, reject) => {
            const onAbort = () => {
                sub.unsubscribe();
                reject(signal.reason);
            };
            const sub = this.scheduler.schedule(() => {
                signal?.removeEventListener('abort', onAbort);
                resolve();
            }, ms);
            signal?.addEventListener('abort', onAbort, { once: true });
        });
    }
}
exports.ResilientProvider = ResilientProvider;
/** Failures that suggest the server is down; only these move the breaker. */
const DOWN_KINDS = new Set(['server', 'timeout', 'network']);
function finiteOrZero(n) {
    return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}
//# sourceMappingURL=resilient-provider.js.map