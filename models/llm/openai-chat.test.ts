import { inspect } from 'node:util';
import sharp from 'sharp';
import { FakeModelRequest, FakeOpenAIServer, FakeOpenAIOptions } from '../../test/fakes/fake-openai-server';
import { NO_API_KEY, OpenAIChatOptions, OpenAIChatProvider } from './openai-chat';
import { CompletionRequest, ProviderError } from './provider';

const KEY = 'sk-test-chat-0123456789abcdefghij';
const SCHEMA = { type: 'object', properties: { boxes: { type: 'array', items: { type: 'integer' } } }, required: ['boxes'], additionalProperties: false };

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } })
    .png()
    .toBuffer();
}

describe('OpenAIChatProvider through the real openai SDK', () => {
  let server: FakeOpenAIServer | undefined;
  afterEach(async () => server?.close());

  const start = async (opts: Partial<FakeOpenAIOptions> = {}, provider: Partial<OpenAIChatOptions> = {}) => {
    server = new FakeOpenAIServer({ oracle: () => '{"boxes":[1]}', ...opts });
    const baseURL = await server.start();
    return new OpenAIChatProvider({ model: 'gpt-5-mini', apiKey: KEY, baseURL, ...provider });
  };

  const request = async (): Promise<CompletionRequest> => ({
    instructions: 'Judge boxes.',
    parts: [
      { type: 'text', text: 'Which boxes hold a dog?' },
      { type: 'image', data: await png(100, 50), mediaType: 'image/png', width: 100, height: 50 },
    ],
    output: { name: 'list', schema: SCHEMA },
    maxOutputTokens: 300,
  });

  it('sends system + user with image_url data URLs, strict json_schema and max_completion_tokens', async () => {
    const seen: FakeModelRequest[] = [];
    const llm = await start({ oracle: (r) => (seen.push(r), '{"boxes":[1]}') }, { reasoningEffort: 'low' });
    const r = await llm.complete(await request());
    expect(r.text).toBe('{"boxes":[1]}');
    expect(r.model).toBe('gpt-5-mini');
    // Usage is what the server billed (its token rules are tested with the fake).
    expect(r.usage).toEqual({ inputTokens: server!.usageTotals.inputTokens, outputTokens: 4, cachedInputTokens: 0 });
    expect(r.usage.inputTokens).toBeGreaterThan(Math.ceil(('Which boxes hold a dog?'.length + 'Judge boxes.'.length) / 4));
    const body = server!.requests[0]!.body as Record<string, any>;
    expect(body).toMatchObject({
      model: 'gpt-5-mini',
      response_format: { type: 'json_schema', json_schema: { name: 'list', schema: SCHEMA, strict: true } },
      max_completion_tokens: 300,
      reasoning_effort: 'low',
    });
    expect(body).not.toHaveProperty('max_tokens');
    expect(body).not.toHaveProperty('temperature');
    expect(body.messages[0]).toEqual({ role: 'system', content: 'Judge boxes.' });
    expect(body.messages[1].role).toBe('user');
    expect(body.messages[1].content[0]).toEqual({ type: 'text', text: 'Which boxes hold a dog?' });
    expect(body.messages[1].content[1]).toEqual({ type: 'image_url', image_url: { url: expect.stringMatching(/^data:image\/png;base64,/) } });
    expect(await sharp(seen[0]!.images[0]!).metadata()).toMatchObject({ format: 'png', width: 100, height: 50 });
    expect(seen[0]!.instructions).toBe('Judge boxes.');
  });

  it.each([
    ['json_object', { type: 'json_object' }],
    ['none', undefined],
  ] as const)('responseFormat %s puts the schema in the prompt', async (format, expected) => {
    const llm = await start({}, { responseFormat: format, maxTokensField: 'max_tokens', imageDetail: 'low', temperature: 0 });
    await llm.complete(await request());
    const body = server!.requests[0]!.body as Record<string, any>;
    expect(body.response_format).toEqual(expected);
    expect(body).toMatchObject({ max_tokens: 300, temperature: 0 });
    expect(body).not.toHaveProperty('max_completion_tokens');
    expect(body).not.toHaveProperty('reasoning_effort');
    expect(body.messages[1].content[1].image_url.detail).toBe('low');
    expect(body.messages[1].content[2].text).toContain(JSON.stringify(SCHEMA));
  });

  it('sends a repair turn after the user turn', async () => {
    const llm = await start();
    await llm.complete({ ...(await request()), repair: { previousAnswer: '{"boxes":"1"}', problem: 'boxes: expected array' } });
    const messages = (server!.requests[0]!.body as Record<string, any>).messages;
    expect(messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(messages[2].content).toBe('{"boxes":"1"}');
    expect(messages[3].content).toMatch(/boxes: expected array[\s\S]*corrected JSON/);
  });

  it('works without a key for compatible servers (a placeholder goes on the wire)', async () => {
    const llm = await start({}, { apiKey: undefined, kind: 'openai-compatible', model: 'Qwen/Qwen2.5-VL-7B-Instruct' });
    expect(llm.kind).toBe('openai-compatible');
    const r = await llm.complete(await request());
    expect(r.model).toBe('Qwen/Qwen2.5-VL-7B-Instruct');
    expect(server!.calls[0]!.authorization).toBe(`Bearer ${NO_API_KEY}`);
  });

  it('sends a text-only turn as a string, and the request sampling (top_k in the body, as vLLM and Ollama read it)', async () => {
    const llm = await start({ oracle: () => 'ok' }, { temperature: 1, maxTokensField: 'max_tokens' });
    await llm.complete({
      instructions: 'Plan.',
      parts: [{ type: 'text', text: 'q?' }],
      maxOutputTokens: 64,
      sampling: { temperature: 0.7, topP: 0.8, topK: 20 },
    });
    const body = server!.requests[0]!.body as Record<string, any>;
    expect(body.messages).toEqual([
      { role: 'system', content: 'Plan.' },
      { role: 'user', content: 'q?' },
    ]);
    // The request's temperature wins over the provider's.
    expect(body).toMatchObject({ temperature: 0.7, top_p: 0.8, top_k: 20, max_tokens: 64 });
    await llm.complete({ parts: [{ type: 'text', text: 'q?' }] });
    const plain = server!.requests[1]!.body as Record<string, any>;
    expect(plain.temperature).toBe(1);
    expect(plain).not.toHaveProperty('top_p');
    expect(plain).not.toHaveProperty('top_k');
  });

  it('drops Qwen3 thinking from the content, and an empty answer is a client error', async () => {
    const llm = await start({ oracle: () => '<think>box 2 maybe</think>\n{"boxes":[2]}' });
    expect((await llm.complete(await request())).text).toBe('{"boxes":[2]}');
    await server!.close();
    const cut = await start({ oracle: () => '<think>still thinking' });
    const err = (await cut.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(err.kind).toBe('client');
    expect(err.message).toMatch(/answer has no text: finish_reason=stop/);
  });

  it.each([
    ['429', (s: FakeOpenAIServer) => s.faults.startRateLimitStorm(1, 1), 'rate-limit', 429, 1000],
    ['500', (s: FakeOpenAIServer) => s.faults.failNext(1, 500), 'server', 500, undefined],
    ['503', (s: FakeOpenAIServer) => s.faults.setDown(true), 'server', 503, undefined],
    ['400', (s: FakeOpenAIServer) => s.faults.failNext(1, 400), 'client', 400, undefined],
    ['401', (s: FakeOpenAIServer) => s.faults.failNext(1, 401), 'auth', 401, undefined],
    ['404', (s: FakeOpenAIServer) => s.faults.failNext(1, 404), 'client', 404, undefined],
  ] as const)('HTTP %s is classified, and the key is nowhere in the error', async (_name, fault, kind, status, retryAfterMs) => {
    const llm = await start();
    fault(server!);
    const err = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind, status, retryAfterMs });
    expect(err.message).toMatch(new RegExp(`^openai-chat gpt-5-mini: HTTP ${status}`));
    for (const seen of [err.message, JSON.stringify(err), inspect(err, { depth: 10 }), inspect(llm, { depth: 10 })]) {
      expect(seen).not.toContain(KEY);
      expect(seen).not.toContain('base64');
    }
  });

  it('a hung request ends on abort; the legacy rateLimitFirst still gives Retry-After: 0', async () => {
    const llm = await start({ rateLimitFirst: 1 });
    const e1 = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(e1).toMatchObject({ kind: 'rate-limit', retryAfterMs: 0 });
    server!.faults.hangNext(1);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('node stopping')), 30);
    const e2 = (await llm.complete({ ...(await request()), signal: ac.signal }).catch((e: unknown) => e)) as ProviderError;
    expect(e2.kind).toBe('aborted');
    const e3 = (await new OpenAIChatProvider({ model: 'm', baseURL: 'http://127.0.0.1:1/v1', timeoutMs: 5000 })
      .complete(await request())
      .catch((e: unknown) => e)) as ProviderError;
    expect(e3.kind).toBe('network');
  });
});
