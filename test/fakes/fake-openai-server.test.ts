import OpenAI from 'openai';
import { FakeOpenAIOptions, FakeOpenAIServer, FLEX_UNAVAILABLE } from './fake-openai-server';

type Tier = 'auto' | 'default' | 'flex' | 'priority';

describe('FakeOpenAIServer service tiers through the real openai SDK', () => {
  const servers: FakeOpenAIServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const start = async (opts: Partial<FakeOpenAIOptions> = {}) => {
    const server = new FakeOpenAIServer({ oracle: () => '{"ok":true}', ...opts });
    servers.push(server);
    // No SDK retries: every 429 must reach the test.
    return { server, client: new OpenAI({ apiKey: 'sk-test', baseURL: await server.start(), maxRetries: 0 }) };
  };
  const ask = (client: OpenAI, service_tier?: Tier) => client.responses.create({ model: 'gpt-5-mini', input: 'hi', ...(service_tier ? { service_tier } : {}) });

  it('echoes the tier billed: flex and priority as asked, default otherwise', async () => {
    const { server, client } = await start();
    expect((await ask(client)).service_tier).toBe('default');
    expect((await ask(client, 'auto')).service_tier).toBe('default');
    expect((await ask(client, 'default')).service_tier).toBe('default');
    expect((await ask(client, 'flex')).service_tier).toBe('flex');
    expect((await ask(client, 'priority')).service_tier).toBe('priority');
    const chat = await client.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }], service_tier: 'flex' });
    expect(chat.service_tier).toBe('flex');
    expect(server.serviceTiers).toEqual({ flexRequests: 2, flexUnavailable: 0, served: { default: 3, flex: 2, priority: 1 } });
  });

  it('refuses an unknown tier with 400', async () => {
    const { client } = await start();
    const err = await client.responses.create({ model: 'gpt-5-mini', input: 'hi', service_tier: 'turbo' as Tier }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, param: 'service_tier', code: 'invalid_value' });
  });

  it("flex capacity: seeded 429 resource_unavailable, the same for the same seed, with OpenAI's body and no Retry-After", async () => {
    const outcomes = async (interleaveDefault: boolean) => {
      const { server, client } = await start({ flex: { unavailableRate: 0.5, seed: 9 } });
      const seen: string[] = [];
      for (let i = 0; i < 16; i++) {
        // Other tiers draw nothing, so they cannot shift which flex requests are refused.
        if (interleaveDefault) expect((await ask(client, 'default')).service_tier).toBe('default');
        const r = await ask(client, 'flex').then(
          (res) => res.service_tier ?? 'missing',
          (e: unknown) => e,
        );
        if (typeof r === 'string') seen.push(r);
        else {
          expect(r).toBeInstanceOf(OpenAI.RateLimitError);
          const e = r as InstanceType<typeof OpenAI.RateLimitError>;
          expect(e.error).toEqual(FLEX_UNAVAILABLE.error);
          expect(e.code).toBe('resource_unavailable');
          expect(e.headers.get('retry-after')).toBeNull();
          expect(e.headers.get('retry-after-ms')).toBeNull();
          seen.push('429');
        }
      }
      const refused = seen.filter((s) => s === '429').length;
      expect(server.serviceTiers).toMatchObject({ flexRequests: 16, flexUnavailable: refused });
      expect(server.serviceTiers.served.flex).toBe(16 - refused);
      expect(server.faults.counters.byStatus[429]).toBe(refused);
      return seen;
    };
    const a = await outcomes(false);
    expect(await outcomes(true)).toEqual(a);
    // A rate of one half over 16 draws refuses some and serves some.
    expect(a).toContain('429');
    expect(a).toContain('flex');
  });

  it('flex refusals follow the rate at its ends, and cost no answer', async () => {
    const calls: number[] = [];
    const { client: always } = await start({ oracle: () => (calls.push(1), 'x'), flex: { unavailableRate: 1 } });
    for (let i = 0; i < 3; i++) await expect(ask(always, 'flex')).rejects.toMatchObject({ status: 429 });
    expect(calls).toHaveLength(0);
    expect((await ask(always, 'default')).service_tier).toBe('default');
    const { client: never, server } = await start({ flex: { unavailableRate: 0, extraLatencyMs: 5 } });
    for (let i = 0; i < 3; i++) expect((await ask(never, 'flex')).service_tier).toBe('flex');
    expect(server.serviceTiers.flexUnavailable).toBe(0);
  });
});
