import { Registry } from 'prom-client';
import { ProviderError } from './provider';
import { ResilientProvider, ResilientResult } from './resilient-provider';
import { advance, fail, ok, req, resilientProviders, ScriptedProvider, track } from './resilient-provider.testkit';

const { setup, keep } = resilientProviders();

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
    const { inner, rp, states } = setup([fail('server', 500), fail('client', 400)], {
      breaker: { failureThreshold: 1, cooldownMs: 1_000, maxCooldownMs: 1_000 },
    });
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
    expect(totals).toMatchObject({
      provider: 'scripted',
      model: 'gpt-5-mini',
      calls: 2,
      failures: 0,
      inputTokens: 2_000,
      outputTokens: 1_000,
      retries: 1,
      rateLimitWaits: 0,
      breakerOpens: 0,
    });
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
    keep(new ResilientProvider(inner, {}, { registry }), new ResilientProvider(inner, {}, { registry }));
    expect(registry.getMetricsAsArray().map((m) => m.name)).toContain('valor_llm_cost_usd_total');
  });
});
