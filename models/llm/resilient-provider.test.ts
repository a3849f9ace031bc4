import pino from 'pino';
import { Registry } from 'prom-client';
import type { BreakerState } from '../../core/circuit-breaker';
import { CompletionRequest, CompletionResult, LlmProvider, ProviderError, TokenUsage } from './provider';
import {
  estimateTokens,
  ProviderRetriesExhausted,
  resilienceConfig,
  ResilienceConfigInput,
  ResilientProvider,
  ResilientResult,
} from './resilient-provider';

// Time is jest's fake clock (rxjs's asyncScheduler follows it), so minutes of backoff,
// cooldown and rate-limit pacing run in milliseconds.

type Step =
  | { ok: { usage?: TokenUsage; delayMs?: number; text?: string } }
  | { fail: ProviderError; delayMs?: number }
  | { hang: 'respect-signal' | 'ignore-signal' };

const ok = (usage?: TokenUsage, delayMs?: number): Step => ({ ok: { usage, delayMs } });
const fail = (kind: ProviderError['kind'], status?: number, retryAfterMs?: number, msg = `HTTP ${status ?? kind}`): Step => ({
  fail: new ProviderError(msg, kind, { status, retryAfterMs }),
});

/** An in-memory provider that answers from a script, one step per call. */
class ScriptedProvider implements LlmProvider {
  readonly kind = 'scripted';
  readonly starts: number[] = [];
  readonly requests: CompletionRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(readonly model: string, private readonly script: Step[], private readonly fallback: Step = ok()) {}

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    this.starts.push(Date.now());
    this.requests.push(req);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const step = this.script.shift() ?? this.fallback;
    try {
      if ('hang' in step) {
        return await new Promise<never>((_, reject) => {
          if (step.hang === 'respect-signal') req.signal?.addEventListener('abort', () => reject(new ProviderError('request aborted', 'aborted')));
        });
      }
      const delayMs = 'ok' in step ? step.ok.delayMs : step.delayMs;
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if ('fail' in step) throw step.fail;
      return { text: step.ok.text ?? '{"ok":true}', usage: step.ok.usage ?? { inputTokens: 10, outputTokens: 5 }, model: `${this.model}-2025-08-07` };
    } finally {
      this.inFlight -= 1;
    }
  }
}

interface Tracked<T> {
  done: boolean;
  value?: T;
  error?: unknown;
  settled: Promise<void>;
}
function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { done: false, settled: Promise.resolve() };
  t.settled = p.then(
    (v) => {
      t.done = true;
      t.value = v;
    },
    (e) => {
      t.done = true;
      t.error = e;
    },
  );
  return t;
}

const advance = (ms: number) => jest.advanceTimersByTimeAsync(ms);

const providers: ResilientProvider[] = [];
function setup(script: Step[], config: ResilienceConfigInput = {}, opts: { model?: string; fallback?: Step; logs?: Record<string, unknown>[] } = {}) {
  const inner = new ScriptedProvider(opts.model ?? 'gpt-5-mini', script, opts.fallback);
  const registry = new Registry();
  const logs = opts.logs ?? [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const rp = new ResilientProvider(inner, { backoff: { initialDelayMs: 100, maxDelayMs: 10_000, jitter: 0 }, ...config }, { registry, logger });
  providers.push(rp);
  const states: BreakerState[] = [];
  rp.state$.subscribe((s) => states.push(s));
  return { inner, rp, registry, logs, states };
}

const req = (text = 'Is box 1 a dog? SECRET PROMPT', extra: Partial<CompletionRequest> = {}): CompletionRequest => ({
  parts: [{ type: 'text', text }],
  ...extra,
});

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => {
  providers.splice(0).forEach((p) => p.close());
  jest.useRealTimers();
});

describe('ResilientProvider: limits', () => {
  it('never has more calls in flight than the concurrency limit, and all of them finish', async () => {
    const { inner, rp } = setup([], { concurrency: 3 }, { fallback: ok(undefined, 100) });
    const calls = Array.from({ length: 10 }, () => track(rp.complete(req())));
    await advance(1_000);
    expect(calls.every((c) => c.done && c.value)).toBe(true);
    expect(inner.maxInFlight).toBe(3);
    expect(inner.starts).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200, 300]);
  });

  it('paces requests per minute', async () => {
    const { inner, rp, logs } = setup([], { requestsPerMinute: 2 });
    const calls = Array.from({ length: 4 }, () => track(rp.complete(req())));
    await advance(60_000);
    expect(calls.every((c) => c.done)).toBe(true);
    expect(inner.starts).toEqual([0, 0, 30_000, 60_000]);
    expect(rp.totals().rateLimitWaits).toBe(2);
    expect(logs.some((l) => l.msg === 'rate limit: pacing call')).toBe(true);
  });

  // 400 chars of text = 100 tokens, + 200 output tokens allowed = an estimate of 300.
  const sized = () => req('x'.repeat(400), { maxOutputTokens: 200 });

  it('paces tokens per minute by the estimate', async () => {
    const { inner, rp } = setup([], { tokensPerMinute: 1200 }, { fallback: ok({ inputTokens: 100, outputTokens: 200 }) });
    expect(estimateTokens(sized())).toBe(300);
    Array.from({ length: 5 }, () => track(rp.complete(sized())));
    await advance(20_000);
    // 1200/min = 0.02 tokens/ms: the fifth call waits 300 / 0.02 = 15 s.
    expect(inner.starts).toEqual([0, 0, 0, 0, 15_000]);
  });

  it('settles the estimate with the real usage: credit when it used less', async () => {
    const { inner, rp } = setup([], { tokensPerMinute: 1200 }, { fallback: ok({ inputTokens: 100, outputTokens: 20 }) });
    // Sequential calls, each using 120 of its 300: the 180 credited each time keeps them all unpaced.
    for (let i = 0; i < 6; i++) await rp.complete(sized());
    expect(inner.starts).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('settles the estimate with the real usage: debit when it used more', async () => {
    const { inner, rp } = setup([], { tokensPerMinute: 1200 }, { fallback: ok({ inputTokens: 100, outputTokens: 1000 }) });
    await rp.complete(sized());
    // 1200 - 1100 used = 100 left; the next 300 waits (300 - 100) / 0.02 = 10 s.
    const second = track(rp.complete(sized()));
    await advance(9_999);
    expect(second.done).toBe(false);
    await advance(1);
    expect(second.done).toBe(true);
    expect(inner.starts).toEqual([0, 10_000]);
  });

  it('lets a request bigger than the TPM capacity through on a full bucket, then pays off the debt', async () => {
    const { inner, rp } = setup([ok({ inputTokens: 2000, outputTokens: 1000 })], { tokensPerMinute: 1000 }, { fallback: ok({ inputTokens: 100, outputTokens: 200 }) });
    const big = req('x'.repeat(8000), { maxOutputTokens: 1000 }); // 3000 tokens
    const first = track(rp.complete(big));
    const second = track(rp.complete(sized()));
    await advance(200_000);
    expect(first.done && second.done).toBe(true);
    // Balance after the big call: 1000 - 3000 = -2000; the next needs 300 more: 2300 / (1000/60000) ms.
    expect(inner.starts).toEqual([0, 138_000]);
  });
});

describe('ResilientProvider: retries', () => {
  it('retries 5xx with exponential backoff and returns the eventual answer', async () => {
    const { inner, rp } = setup([fail('server', 500), fail('server', 503), ok()]);
    const call = track(rp.complete(req()));
    await advance(1_000);
    expect((call.value as ResilientResult).attempts).toBe(3);
    expect(inner.starts).toEqual([0, 100, 300]);
    expect(rp.totals().retries).toBe(2);
    expect(rp.state).toBe('closed');
  });

  it('applies jitter to the backoff', async () => {
    const inner = new ScriptedProvider('gpt-5-mini', [fail('server', 500), ok()]);
    const rp = new ResilientProvider(inner, { backoff: { initialDelayMs: 1000, jitter: 0.5 } }, { registry: new Registry(), random: () => 0 });
    providers.push(rp);
    track(rp.complete(req()));
    await advance(1_000);
    expect(inner.starts).toEqual([0, 500]);
  });

  it('fails at once on 400 and 401, with the provider error itself', async () => {
    for (const [kind, status] of [['client', 400], ['auth', 401]] as const) {
      const step = fail(kind, status);
      const { inner, rp } = setup([step]);
      const call = track(rp.complete(req()));
      await advance(10_000);
      expect(call.error).toBe((step as { fail: ProviderError }).fail);
      expect(inner.starts).toHaveLength(1);
      expect(rp.totals()).toMatchObject({ calls: 0, failures: 1, retries: 0 });
    }
  });

  it('does not retry an error that is not a classified provider failure', async () => {
    const inner: LlmProvider = { kind: 'scripted', model: 'gpt-5-mini', complete: jest.fn().mockRejectedValue(new TypeError('cannot read x')) };
    const rp = new ResilientProvider(inner, {}, { registry: new Registry() });
    providers.push(rp);
    await expect(rp.complete(req())).rejects.toThrow(TypeError);
    expect(inner.complete).toHaveBeenCalledTimes(1);
  });

  it('retries raw socket errors as network failures', async () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    let n = 0;
    const inner: LlmProvider = {
      kind: 'scripted',
      model: 'gpt-5-mini',
      complete: async () => {
        if (n++ === 0) throw reset;
        return { text: 'ok', usage: { inputTokens: 1, outputTokens: 1 }, model: 'gpt-5-mini' };
      },
    };
    const rp = new ResilientProvider(inner, { backoff: { initialDelayMs: 10, jitter: 0 } }, { registry: new Registry() });
    providers.push(rp);
    const call = track(rp.complete(req()));
    await advance(100);
    expect((call.value as ResilientResult).attempts).toBe(2);
  });

  it('honours Retry-After and holds every other call to the provider until then', async () => {
    const { inner, rp, logs } = setup([fail('rate-limit', 429, 5_000)]);
    const a = track(rp.complete(req()));
    await advance(10);
    const b = track(rp.complete(req()));
    await advance(4_980);
    expect(inner.starts).toEqual([0]);
    expect(a.done || b.done).toBe(false);
    await advance(10);
    expect(a.done && b.done).toBe(true);
    expect(inner.starts).toEqual([0, 5_000, 5_000]);
    expect(rp.totals().rateLimitWaits).toBe(2); // A after its 429, B held by A's Retry-After
    expect(logs.filter((l) => String(l.msg).includes('holding all calls'))).toHaveLength(1);
    // A 429 says the server is up: no step toward opening the breaker.
    expect(rp.state).toBe('closed');
  });

  it('gives up after maxAttempts with an error naming provider, model, attempts and the last error', async () => {
    const { inner, rp } = setup([], { maxAttempts: 3, breaker: { failureThreshold: 100 } }, { fallback: fail('server', 503, undefined, 'HTTP 503: upstream overloaded') });
    const call = track(rp.complete(req()));
    await advance(10_000);
    const err = call.error as ProviderRetriesExhausted;
    expect(err).toBeInstanceOf(ProviderRetriesExhausted);
    expect(err.message).toBe('scripted/gpt-5-mini: gave up after 3 attempts (3 counted while the circuit was closed); last error: HTTP 503: upstream overloaded');
    expect(err.retriable).toBe(true);
    expect(err).toMatchObject({ kind: 'server', status: 503, attempts: 3, provider: 'scripted', model: 'gpt-5-mini' });
    expect(inner.starts).toHaveLength(3);
    expect(rp.totals()).toMatchObject({ failures: 1, retries: 2 });
  });
});

describe('ResilientProvider: timeouts and aborts', () => {
  it.each(['respect-signal', 'ignore-signal'] as const)('times out a hanging call (%s), aborts its signal and retries', async (mode) => {
    const { inner, rp } = setup([{ hang: mode }, ok()], { timeoutMs: 1_000 });
    const call = track(rp.complete(req()));
    await advance(999);
    expect(call.done).toBe(false);
    await advance(1);
    expect(inner.requests[0]!.signal!.aborted).toBe(true);
    expect((inner.requests[0]!.signal!.reason as ProviderError).kind).toBe('timeout');
    await advance(100);
    expect((call.value as ResilientResult).attempts).toBe(2);
    expect(inner.starts).toEqual([0, 1_100]);
  });

  it('stops on caller abort during a call, without retrying', async () => {
    const { inner, rp } = setup([{ hang: 'respect-signal' }]);
    const ac = new AbortController();
    const call = track(rp.complete(req('q', { signal: ac.signal })));
    await advance(500);
    ac.abort(new Error('shutdown'));
    await advance(60_000);
    expect(call.error).toBeInstanceOf(ProviderError);
    expect((call.error as ProviderError).kind).toBe('aborted');
    expect((call.error as Error).message).toBe('scripted/gpt-5-mini: call aborted by the caller');
    expect(inner.requests[0]!.signal!.aborted).toBe(true);
    expect(inner.starts).toEqual([0]);
  });

  it('stops on caller abort during backoff or while queued', async () => {
    const { inner, rp } = setup([fail('server', 500)], { concurrency: 1, backoff: { initialDelayMs: 1_000, jitter: 0 } }, { fallback: ok(undefined, 10_000) });
    const ac = new AbortController();
    const backingOff = track(rp.complete(req('a', { signal: ac.signal })));
    await advance(500);
    ac.abort();
    await advance(0);
    expect((backingOff.error as ProviderError).kind).toBe('aborted');

    const holder = track(rp.complete(req('b')));
    const ac2 = new AbortController();
    const queued = track(rp.complete(req('c', { signal: ac2.signal })));
    await advance(100);
    ac2.abort();
    await advance(0);
    expect((queued.error as ProviderError).kind).toBe('aborted');
    await advance(10_000);
    expect(holder.done).toBe(true);
    expect(inner.starts).toEqual([0, 500]);
  });
});

describe('ResilientProvider: circuit breaker', () => {
  const breaker = { failureThreshold: 3, cooldownMs: 1_000, maxCooldownMs: 1_500 };

  it('opens after N failures, makes calls wait (not fail), probes once half-open, then closes', async () => {
    const { inner, rp, states, logs } = setup([fail('server', 500), fail('timeout'), fail('network', undefined, undefined, 'ECONNRESET')], { breaker });
    const a = track(rp.complete(req()));
    await advance(300);
    // Failures at 0, 100, 300: the third opens the breaker.
    expect(rp.state).toBe('open');
    expect(states).toEqual(['closed', 'open']);
    const b = track(rp.complete(req()));
    await advance(999);
    expect(a.done || b.done).toBe(false);
    expect(inner.starts).toEqual([0, 100, 300]);
    await advance(1);
    // Half-open at 1300: one probe (the oldest waiter); its success closes, then B goes.
    expect(a.done && b.done).toBe(true);
    expect(inner.starts).toEqual([0, 100, 300, 1_300, 1_300]);
    expect(states).toEqual(['closed', 'open', 'half-open', 'closed']);
    expect((a.value as ResilientResult).attempts).toBe(4);
    expect((b.value as ResilientResult).attempts).toBe(1);
    expect(rp.totals().breakerOpens).toBe(1);
    const open = logs.find((l) => String(l.msg).startsWith('circuit open'))!;
    expect(open).toMatchObject({ level: 40, provider: 'scripted', model: 'gpt-5-mini', cooldownMs: 1_000, lastError: 'ECONNRESET' });
    expect(logs.some((l) => String(l.msg).startsWith('circuit closed'))).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('SECRET PROMPT');
  });

  it('a failed probe reopens with a longer cooldown while the others keep waiting', async () => {
    const { inner, rp, states } = setup([fail('server', 500), fail('server', 500), fail('server', 500), fail('server', 502), fail('server', 503)], { breaker });
    const calls = [track(rp.complete(req())), track(rp.complete(req())), track(rp.complete(req()))];
    await advance(0);
    // Three concurrent failures at 0 open it; probes fail at 1000 and at 3000 (cooldown 2000 → capped 1500 → 2500).
    await advance(1_000);
    expect(inner.starts).toEqual([0, 0, 0, 1_000]);
    await advance(1_499);
    expect(inner.starts).toHaveLength(4);
    await advance(1);
    expect(inner.starts).toEqual([0, 0, 0, 1_000, 2_500]);
    expect(calls.some((c) => c.done)).toBe(false);
    await advance(1_500);
    expect(inner.starts).toEqual([0, 0, 0, 1_000, 2_500, 4_000, 4_000, 4_000]);
    expect(calls.every((c) => c.done && c.value)).toBe(true);
    expect(states).toEqual(['closed', 'open', 'half-open', 'open', 'half-open', 'open', 'half-open', 'closed']);
    expect(rp.totals().breakerOpens).toBe(3);
  });

  it('does not burn attempts during an outage: maxAttempts 2 survives ten failures', async () => {
    const script = Array.from({ length: 10 }, () => fail('server', 503));
    const { inner, rp } = setup(script, { maxAttempts: 2, breaker: { failureThreshold: 2, cooldownMs: 1_000, maxCooldownMs: 1_000 } });
    const call = track(rp.complete(req()));
    await advance(20_000);
    // Attempt 1 counts (closed), attempt 2 opens the breaker (not counted), 3..10 are failed probes.
    expect((call.value as ResilientResult).attempts).toBe(11);
    expect(inner.starts).toHaveLength(11);
    expect(rp.state).toBe('closed');
  });

  it('moves to half-open on its own timer, so a paused consumer sees the provider come back', async () => {
    const { inner, rp, states } = setup([fail('server', 500), fail('client', 400)], { breaker: { failureThreshold: 1, cooldownMs: 1_000, maxCooldownMs: 1_000 } });
    const ac = new AbortController();
    const waiting = track(rp.complete(req('a', { signal: ac.signal })));
    await advance(0);
    expect(rp.state).toBe('open');
    // The only waiter gives up: nothing is calling the provider any more.
    ac.abort();
    await advance(0);
    expect((waiting.error as ProviderError).kind).toBe('aborted');
    await advance(1_000);
    expect(states).toEqual(['closed', 'open', 'half-open']);
    // The next call is the probe; a 400 says the server is up: closed, and the 400 is thrown at once.
    const probe = track(rp.complete(req('b')));
    await advance(0);
    expect(rp.state).toBe('closed');
    expect((probe.error as ProviderError).status).toBe(400);
    expect(inner.starts).toEqual([0, 1_000]);
  });
});

describe('ResilientProvider: cost and totals', () => {
  it('returns cost, attempts and latency per call and keeps totals and metrics', async () => {
    const usage = { inputTokens: 1_000, outputTokens: 500 };
    const { rp, registry } = setup([fail('server', 500), ok(usage, 40), ok(usage, 40)]);
    const first = track(rp.complete(req()));
    await advance(140);
    const r = first.value as ResilientResult;
    expect(r).toMatchObject({ text: '{"ok":true}', usage, model: 'gpt-5-mini-2025-08-07', attempts: 2, latencyMs: 140 });
    expect(r.costUsd).toBeCloseTo((1_000 * 0.25 + 500 * 2) / 1e6, 12);
    const second = track(rp.complete(req()));
    await advance(40);
    expect(second.done).toBe(true);
    const totals = rp.totals();
    expect(totals).toMatchObject({ provider: 'scripted', model: 'gpt-5-mini', calls: 2, failures: 0, inputTokens: 2_000, outputTokens: 1_000, retries: 1, rateLimitWaits: 0, breakerOpens: 0 });
    expect(totals.costUsd).toBeCloseTo(0.0025, 12);

    const value = async (name: string, labels: Record<string, string> = {}) =>
      (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
    const labels = { provider: 'scripted', model: 'gpt-5-mini' };
    expect(await value('valor_llm_calls_total', { ...labels, outcome: 'ok' })).toBe(2);
    expect(await value('valor_llm_input_tokens_total', labels)).toBe(2_000);
    expect(await value('valor_llm_output_tokens_total', labels)).toBe(1_000);
    expect(await value('valor_llm_cost_usd_total', labels)).toBeCloseTo(0.0025, 12);
    expect(await value('valor_llm_retries_total', labels)).toBe(1);
    expect(await value('valor_llm_breaker_state', labels)).toBe(0);
  });

  it('counts unknown models at $0 and warns once per model', async () => {
    const logs: Record<string, unknown>[] = [];
    const { rp } = setup([], {}, { model: 'mystery-vlm-7b', logs });
    setup([], {}, { model: 'mystery-vlm-7b', logs });
    const r = await rp.complete(req());
    expect(r.costUsd).toBe(0);
    expect(logs.filter((l) => String(l.msg).includes('no price for model mystery-vlm-7b'))).toHaveLength(1);
  });

  it('shares metrics when several providers use one registry', () => {
    const registry = new Registry();
    const inner = new ScriptedProvider('gpt-5-mini', []);
    providers.push(new ResilientProvider(inner, {}, { registry }), new ResilientProvider(inner, {}, { registry }));
    expect(registry.getMetricsAsArray().map((m) => m.name)).toContain('valor_llm_cost_usd_total');
  });
});

describe('resilienceConfig and estimates', () => {
  it('has the documented defaults', () => {
    expect(resilienceConfig.parse({})).toEqual({
      concurrency: 32,
      timeoutMs: 60_000,
      maxAttempts: 8,
      defaultOutputTokens: 1024,
      backoff: { initialDelayMs: 500, maxDelayMs: 30_000, multiplier: 2, jitter: 0.2 },
      breaker: { failureThreshold: 5, cooldownMs: 30_000, maxCooldownMs: 300_000 },
    });
  });

  it('names a bad or unknown field', () => {
    const bad = resilienceConfig.safeParse({ breaker: { cooldownMs: 10_000, maxCooldownMs: 5_000 } });
    expect(bad.error!.issues[0]).toMatchObject({ path: ['breaker', 'maxCooldownMs'], message: 'breaker.maxCooldownMs must be >= breaker.cooldownMs' });
    expect(resilienceConfig.safeParse({ rpm: 10 }).success).toBe(false);
    expect(resilienceConfig.safeParse({ requestsPerMinute: 0 }).success).toBe(false);
  });

  it('estimates text, schema, images (32 px patches, capped) and the output allowance', () => {
    const schema = { type: 'object' };
    const r: CompletionRequest = {
      instructions: 'i'.repeat(40),
      parts: [
        { type: 'text', text: 't'.repeat(400) },
        { type: 'image', data: Buffer.alloc(0), mediaType: 'image/png', width: 640, height: 480 },
        { type: 'image', data: Buffer.alloc(0), mediaType: 'image/png', width: 4000, height: 4000 },
      ],
      output: { name: 's', schema },
    };
    const text = Math.ceil((40 + 400 + JSON.stringify(schema).length) / 4);
    expect(estimateTokens(r)).toBe(text + 20 * 15 + 1536 + 1024);
    expect(estimateTokens({ ...r, maxOutputTokens: 10 }, 999)).toBe(text + 300 + 1536 + 10);
  });
});
