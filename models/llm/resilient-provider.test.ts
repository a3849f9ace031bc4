import { Registry } from 'prom-client';
import { LlmProvider, ProviderError } from './provider';
import { estimateTokens, ProviderRetriesExhausted, ResilientProvider, ResilientResult } from './resilient-provider';
import { advance, fail, ok, req, resilientProviders, ScriptedProvider, track } from './resilient-provider.testkit';

// Limits, retries, timeouts and aborts; the breaker, cost and totals are in
// resilient-provider.breaker.test.ts.

const { setup, keep } = resilientProviders();

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
    const { inner, rp } = setup(
      [ok({ inputTokens: 2000, outputTokens: 1000 })],
      { tokensPerMinute: 1000 },
      { fallback: ok({ inputTokens: 100, outputTokens: 200 }) },
    );
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
    const rp = keep(new ResilientProvider(inner, { backoff: { initialDelayMs: 1000, jitter: 0.5 } }, { registry: new Registry(), random: () => 0 }));
    track(rp.complete(req()));
    await advance(1_000);
    expect(inner.starts).toEqual([0, 500]);
  });

  it('fails at once on 400 and 401, with the provider error itself', async () => {
    for (const [kind, status] of [
      ['client', 400],
      ['auth', 401],
    ] as const) {
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
    const rp = keep(new ResilientProvider(inner, {}, { registry: new Registry() }));
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
    const rp = keep(new ResilientProvider(inner, { backoff: { initialDelayMs: 10, jitter: 0 } }, { registry: new Registry() }));
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
    const { inner, rp } = setup(
      [],
      { maxAttempts: 3, breaker: { failureThreshold: 100 } },
      { fallback: fail('server', 503, undefined, 'HTTP 503: upstream overloaded') },
    );
    const call = track(rp.complete(req()));
    await advance(10_000);
    const err = call.error as ProviderRetriesExhausted;
    expect(err).toBeInstanceOf(ProviderRetriesExhausted);
    expect(err.message).toBe(
      'scripted/gpt-5-mini: gave up after 3 attempts (3 counted while the circuit was closed); last error: HTTP 503: upstream overloaded',
    );
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
