// What a ResilientProvider counts: running totals for totals() and the same figures as
// prom-client metrics, labelled by provider and model.
import type { Counter, Gauge, Registry } from 'prom-client';
import { sharedCounter, sharedGauge } from '../../core/metrics';
import type { BreakerState } from '../../core/circuit-breaker';
import type { BilledTier } from './provider';

/** Running totals of one ResilientProvider since it was made. */
export interface ProviderTotals {
  provider: string;
  model: string;
  /** Calls that returned a result. */
  calls: number;
  /** Calls that threw (after retries, or at once for non-retriable errors). */
  failures: number;
  inputTokens: number;
  /** Of inputTokens, those read from the provider's prompt cache. */
  cachedInputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Calls billed at a discounted tier (flex or the Batch API). */
  discountedCalls: number;
  /** Attempts after the first, over all calls. */
  retries: number;
  /** Waits for rate limits: after a 429, held by another call's Retry-After, or paced by the RPM/TPM buckets. */
  rateLimitWaits: number;
  breakerOpens: number;
}

export type WaitReason = '429' | 'retry-after' | 'rpm' | 'tpm';

const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

interface Metrics {
  calls: Counter<'provider' | 'model' | 'outcome'>;
  inputTokens: Counter<'provider' | 'model'>;
  cachedInputTokens: Counter<'provider' | 'model'>;
  tierCalls: Counter<'provider' | 'model' | 'tier'>;
  outputTokens: Counter<'provider' | 'model'>;
  cost: Counter<'provider' | 'model'>;
  retries: Counter<'provider' | 'model'>;
  rateLimitWaits: Counter<'provider' | 'model' | 'reason'>;
  breakerOpens: Counter<'provider' | 'model'>;
  breakerState: Gauge<'provider' | 'model'>;
}

function metricsIn(registry: Registry): Metrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) => sharedCounter(name, help, labelNames, registry);
  return {
    calls: counter('valor_llm_calls_total', 'LLM calls by outcome (ok = returned a result, error = threw)', ['provider', 'model', 'outcome']),
    inputTokens: counter('valor_llm_input_tokens_total', 'Input tokens reported by the API', ['provider', 'model']),
    cachedInputTokens: counter('valor_llm_cached_input_tokens_total', 'Of the input tokens, those read from the prompt cache (billed at the cached rate)', [
      'provider',
      'model',
    ]),
    tierCalls: counter('valor_llm_tier_calls_total', 'Calls that returned a result, by the tier they were billed at (default, flex, batch)', [
      'provider',
      'model',
      'tier',
    ]),
    outputTokens: counter('valor_llm_output_tokens_total', 'Output tokens reported by the API', ['provider', 'model']),
    cost: counter('valor_llm_cost_usd_total', 'USD spent, from the price table', ['provider', 'model']),
    retries: counter('valor_llm_retries_total', 'Attempts after the first', ['provider', 'model']),
    rateLimitWaits: counter(
      'valor_llm_rate_limit_waits_total',
      'Waits for rate limits: 429 (the call that got it), retry-after (others held), rpm/tpm (bucket pacing)',
      ['provider', 'model', 'reason'],
    ),
    breakerOpens: counter('valor_llm_breaker_opens_total', 'Times the circuit breaker opened', ['provider', 'model']),
    breakerState: sharedGauge('valor_llm_breaker_state', 'Circuit breaker state: 0 closed, 1 half-open, 2 open', ['provider', 'model'], registry),
  };
}

/** The totals and metrics of one provider/model; every count goes to both. */
export class ProviderMeter {
  private readonly metrics: Metrics;
  private readonly labels: { provider: string; model: string };
  private readonly sums: Omit<ProviderTotals, 'provider' | 'model'> = {
    calls: 0,
    failures: 0,
    inputTokens: 0,
    cachedInputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
    discountedCalls: 0,
    retries: 0,
    rateLimitWaits: 0,
    breakerOpens: 0,
  };

  constructor(
    private readonly provider: string,
    private readonly model: string,
    registry: Registry,
  ) {
    this.labels = { provider, model };
    this.metrics = metricsIn(registry);
  }

  totals(): ProviderTotals {
    return { provider: this.provider, model: this.model, ...this.sums };
  }

  /** A call that returned a result, with the tokens it used, their price and the tier it was billed at. */
  succeeded(inputTokens: number, outputTokens: number, cost: number, cachedInputTokens = 0, tier: BilledTier = 'default'): void {
    this.sums.calls += 1;
    this.sums.inputTokens += inputTokens;
    this.sums.cachedInputTokens += cachedInputTokens;
    this.sums.outputTokens += outputTokens;
    this.sums.costUsd += cost;
    if (tier !== 'default') this.sums.discountedCalls += 1;
    this.metrics.calls.inc({ ...this.labels, outcome: 'ok' });
    this.metrics.tierCalls.inc({ ...this.labels, tier });
    this.metrics.inputTokens.inc(this.labels, inputTokens);
    this.metrics.cachedInputTokens.inc(this.labels, cachedInputTokens);
    this.metrics.outputTokens.inc(this.labels, outputTokens);
    this.metrics.cost.inc(this.labels, cost);
  }

  /** A call that threw. */
  failed(): void {
    this.sums.failures += 1;
    this.metrics.calls.inc({ ...this.labels, outcome: 'error' });
  }

  count(what: 'retries' | 'breakerOpens'): void {
    this.sums[what] += 1;
    this.metrics[what].inc(this.labels);
  }

  countWait(reason: WaitReason): void {
    this.sums.rateLimitWaits += 1;
    this.metrics.rateLimitWaits.inc({ ...this.labels, reason });
  }

  breakerState(state: BreakerState): void {
    this.metrics.breakerState.set(this.labels, BREAKER_STATE_VALUE[state]);
  }
}
