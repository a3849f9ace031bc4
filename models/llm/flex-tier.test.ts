// Flex on the Responses API through the real SDK against the fake server, which refuses a
// seeded share of flex requests with 429 "resource unavailable": those calls fall back to
// the default tier; each call is billed (and priced) at the tier it was served at.
import { FakeOpenAIServer } from '../../test/fakes/fake-openai-server';
import { isFlexUnavailable } from './flex-tier';
import { OpenAIResponsesProvider } from './openai-responses';
import { ProviderError } from './provider';
import { ResilientProvider } from './resilient-provider';
import { Registry } from 'prom-client';

const SCHEMA = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };

describe('flex tier', () => {
  let server: FakeOpenAIServer | undefined;
  afterEach(async () => server?.close());

  it('bills flex calls at half price and falls back to the default tier on "resource unavailable"', async () => {
    server = new FakeOpenAIServer({ oracle: () => '{"ok":true}', flex: { unavailableRate: 0.3, seed: 3 } });
    const baseURL = await server.start();
    const inner = new OpenAIResponsesProvider({ model: 'gpt-5-mini', apiKey: 'sk-flex', baseURL, serviceTier: 'flex', flexFallbackAfterMs: 5 });
    expect(inner.minTimeoutMs).toBe(900_000);
    const llm = new ResilientProvider(inner, { timeoutMs: 5_000 }, { registry: new Registry() });
    const results = [];
    for (let i = 0; i < 20; i++) {
      results.push(await llm.complete({ parts: [{ type: 'text', text: `question ${i}` }], output: { name: 'a', schema: SCHEMA } }));
    }
    const fell = server.serviceTiers.flexUnavailable;
    expect(fell).toBeGreaterThan(0);
    expect(fell).toBeLessThan(20);
    expect(results.filter((r) => r.tier === 'default')).toHaveLength(fell);
    expect(results.filter((r) => r.tier === 'flex')).toHaveLength(20 - fell);
    expect(server.serviceTiers.flexRequests).toBe(20);
    for (const r of results) {
      const list = (r.usage.inputTokens * 0.25 + r.usage.outputTokens * 2) / 1e6;
      expect(r.costUsd).toBeCloseTo(r.tier === 'flex' ? list / 2 : list, 12);
    }
    // The fallback asked without service_tier.
    const tiers = server.requests.map((q) => (q.body as { service_tier?: string }).service_tier ?? 'default');
    expect(tiers.filter((t) => t === 'default')).toHaveLength(fell);
    expect(llm.totals().discountedCalls).toBe(20 - fell);
  });

  it('tells flex unavailability from a rate limit', () => {
    expect(isFlexUnavailable(new ProviderError('429 Resource Unavailable: flex capacity is temporarily exhausted', 'rate-limit'))).toBe(true);
    expect(isFlexUnavailable(new ProviderError('429 Rate limit reached for requests', 'rate-limit'))).toBe(false);
    expect(isFlexUnavailable(new ProviderError('resource unavailable', 'server'))).toBe(false);
  });

  it('reads cached input tokens and prices them at the cached rate', async () => {
    server = new FakeOpenAIServer({ oracle: () => '{"ok":true}' });
    const baseURL = await server.start();
    const llm = new ResilientProvider(new OpenAIResponsesProvider({ model: 'gpt-5-mini', apiKey: 'sk-c', baseURL }), {}, { registry: new Registry() });
    const rules = 'Rules of the task, the same in every call. '.repeat(150); // ~1,600 tokens
    const ask = (tail: string) => llm.complete({ instructions: rules, parts: [{ type: 'text', text: tail }], cacheKey: 'img-1' });
    const first = await ask('first record');
    const second = await ask('second record');
    expect(first.usage.cachedInputTokens).toBe(0);
    expect(second.usage.cachedInputTokens).toBeGreaterThanOrEqual(1024);
    expect(second.usage.cachedInputTokens! % 128).toBe(0);
    const c = second.usage.cachedInputTokens!;
    expect(second.costUsd).toBeCloseTo(((second.usage.inputTokens - c) * 0.25 + c * 0.025 + second.usage.outputTokens * 2) / 1e6, 12);
    expect((server.requests[1]!.body as { prompt_cache_key?: string }).prompt_cache_key).toBe('img-1');
  });
});
