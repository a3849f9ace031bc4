import { getEventListeners } from 'node:events';
import { inspect } from 'node:util';
import sharp from 'sharp';
import { FakeModelRequest, FakeOpenAIServer, FakeOpenAIOptions } from '../../test/fakes/fake-openai-server';
import { OpenAIResponsesOptions, OpenAIResponsesProvider } from './openai-responses';
import { CompletionRequest, ProviderError } from './provider';

const KEY = 'sk-test-responses-0123456789abcdef';
const SCHEMA = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .png()
    .toBuffer();
}

describe('OpenAIResponsesProvider through the real openai SDK', () => {
  let server: FakeOpenAIServer | undefined;
  afterEach(async () => server?.close());

  const start = async (opts: Partial<FakeOpenAIOptions> = {}, provider: Partial<OpenAIResponsesOptions> = {}) => {
    server = new FakeOpenAIServer({ oracle: () => '{"ok":true}', ...opts });
    const baseURL = await server.start();
    return new OpenAIResponsesProvider({ model: 'gpt-5-mini', apiKey: KEY, baseURL, ...provider });
  };

  const request = async (): Promise<CompletionRequest> => ({
    instructions: 'You check detections.',
    parts: [
      { type: 'text', text: 'Is there a red box?' },
      { type: 'image', data: await png(64, 40), mediaType: 'image/png', width: 64, height: 40 },
      { type: 'text', text: 'Answer as JSON.' },
    ],
    output: { name: 'coarse', schema: SCHEMA },
    maxOutputTokens: 512,
  });

  it('sends instructions, input_text/input_image parts, a strict json_schema, reasoning and store:false', async () => {
    const seen: FakeModelRequest[] = [];
    const llm = await start({ oracle: (r) => (seen.push(r), '{"ok":true}') });
    const r = await llm.complete(await request());
    expect(r).toEqual({
      text: '{"ok":true}',
      model: 'gpt-5-mini',
      usage: { inputTokens: expect.any(Number), outputTokens: 3, cachedInputTokens: 0 },
      tier: 'default',
    });

    const body = server!.requests[0]!.body as Record<string, any>;
    expect(body).toMatchObject({
      model: 'gpt-5-mini',
      instructions: 'You check detections.',
      text: { format: { type: 'json_schema', name: 'coarse', schema: SCHEMA, strict: true } },
      reasoning: { effort: 'medium' },
      max_output_tokens: 512,
      store: false,
    });
    expect(body.stream).toBeFalsy();
    expect(body.input).toHaveLength(1);
    expect(body.input[0].role).toBe('user');
    expect(body.input[0].content.map((c: { type: string }) => c.type)).toEqual(['input_text', 'input_image', 'input_text']);
    expect(body.input[0].content[1]).toMatchObject({ detail: 'auto', image_url: expect.stringMatching(/^data:image\/png;base64,/) });

    // The image arrives as a PNG the server can decode, at its size.
    expect(seen[0]!.images).toHaveLength(1);
    expect(await sharp(seen[0]!.images[0]!).metadata()).toMatchObject({ format: 'png', width: 64, height: 40 });
    expect(seen[0]!.text).toBe('Is there a red box?\nAnswer as JSON.');
    expect(seen[0]!.instructions).toBe('You check detections.');
    // Usage comes from the response: what the server billed (text, image patches, the schema).
    expect(r.usage.inputTokens).toBe(server!.usageTotals.inputTokens);
    expect(r.usage.inputTokens).toBeGreaterThan(Math.ceil(('Is there a red box?\nAnswer as JSON.'.length + 'You check detections.'.length) / 4));
    expect(server!.calls[0]!.authorization).toBe(`Bearer ${KEY}`);
  });

  it('omits reasoning when the effort is null, and text.format without an output schema', async () => {
    const llm = await start({}, { reasoningEffort: null, imageDetail: 'high', maxOutputTokens: 99 });
    await llm.complete({
      parts: [
        { type: 'text', text: 'hi' },
        { type: 'image', data: await png(8, 8), mediaType: 'image/png', width: 8, height: 8 },
      ],
    });
    const body = server!.requests[0]!.body as Record<string, any>;
    expect(body).not.toHaveProperty('reasoning');
    expect(body).not.toHaveProperty('text');
    expect(body).not.toHaveProperty('instructions');
    expect(body.max_output_tokens).toBe(99);
    expect(body.input[0].content[1].detail).toBe('high');
  });

  it('sends the request temperature and top_p, and refuses top_k, which the Responses API lacks', async () => {
    const llm = await start();
    await llm.complete({ parts: [{ type: 'text', text: 'hi' }], sampling: { temperature: 0.2, topP: 0.9 } });
    expect(server!.requests[0]!.body).toMatchObject({ temperature: 0.2, top_p: 0.9 });
    const err = (await llm.complete({ parts: [{ type: 'text', text: 'hi' }], sampling: { topK: 20 } }).catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.kind).toBe('client');
    expect(err.message).toMatch(/no top_k/);
    expect(server!.requests).toHaveLength(1);
  });

  it('sends a repair turn: the previous answer as assistant, then the problem as user', async () => {
    const llm = await start({ oracle: () => '{"ok":false}' });
    const req = await request();
    const r = await llm.complete({ ...req, repair: { previousAnswer: '{"ok":"yes"}', problem: 'ok: expected boolean' } });
    expect(r.text).toBe('{"ok":false}');
    const input = (server!.requests[0]!.body as Record<string, any>).input;
    expect(input).toHaveLength(3);
    expect(input[1]).toEqual({ role: 'assistant', content: '{"ok":"yes"}' });
    expect(input[2].role).toBe('user');
    expect(input[2].content[0].text).toContain('ok: expected boolean');
    expect(input[2].content[0].text).toMatch(/corrected JSON/);
    expect(server!.calls[0]!.text).toContain('{"ok":"yes"}');
  });

  it('returns malformed answers as they are (the verifier repairs them)', async () => {
    const llm = await start();
    server!.faults.malformedNext(1);
    const r = await llm.complete(await request());
    expect(() => JSON.parse(r.text)).toThrow();
  });

  it.each([
    ['429 with retry-after-ms', (s: FakeOpenAIServer) => s.faults.startRateLimitStorm(1, 2), 'rate-limit', 429, 2000],
    ['500', (s: FakeOpenAIServer) => s.faults.failNext(1, 500), 'server', 500, undefined],
    ['503 outage with Retry-After', (s: FakeOpenAIServer) => s.faults.setDown(true, 5), 'server', 503, 5000],
    ['400', (s: FakeOpenAIServer) => s.faults.failNext(1, 400), 'client', 400, undefined],
    ['401', (s: FakeOpenAIServer) => s.faults.failNext(1, 401), 'auth', 401, undefined],
    ['403', (s: FakeOpenAIServer) => s.faults.failNext(1, 403), 'auth', 403, undefined],
  ] as const)('%s is classified, and the key is nowhere in the error', async (_name, fault, kind, status, retryAfterMs) => {
    const llm = await start();
    fault(server!);
    const err = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(status);
    expect(err.retryAfterMs).toBe(retryAfterMs);
    expect(err.retriable).toBe(kind === 'rate-limit' || kind === 'server');
    expect(err.message).toMatch(new RegExp(`^openai-responses gpt-5-mini: HTTP ${status}`));
    // The fake's 401 repeats the key it received; the provider must have scrubbed it.
    if (status === 401) expect(err.message).toContain('[redacted]');
    expect(server!.calls[0]!.authorization).toBe(`Bearer ${KEY}`);
    for (const seen of [err.message, String(err.stack), JSON.stringify(err), inspect(err, { depth: 10 }), inspect(llm, { depth: 10 }), JSON.stringify(llm)]) {
      expect(seen).not.toContain(KEY);
      // Nor the request body (the image).
      expect(seen).not.toContain('base64');
    }
  });

  it('reads Retry-After in seconds and as an HTTP date', async () => {
    for (const style of ['seconds', 'http-date'] as const) {
      const llm = await start({ retryAfterHeaders: style });
      server!.faults.startRateLimitStorm(1, 3);
      const err = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
      expect(err.kind).toBe('rate-limit');
      if (style === 'seconds') expect(err.retryAfterMs).toBe(3000);
      // An HTTP date has whole seconds: up to one second is lost.
      else {
        expect(err.retryAfterMs).toBeGreaterThanOrEqual(1000);
        expect(err.retryAfterMs).toBeLessThanOrEqual(3000);
      }
      await server!.close();
    }
  });

  it('a hung request stops when the signal aborts: aborted, or timeout when the reason is a deadline', async () => {
    const llm = await start();
    server!.faults.hangNext(2);
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 50);
    const e1 = (await llm.complete({ ...(await request()), signal: ac.signal }).catch((e: unknown) => e)) as ProviderError;
    expect(Date.now() - t0).toBeLessThan(10_000); // the request hangs forever: the abort ended it
    expect(e1).toBeInstanceOf(ProviderError);
    expect(e1.kind).toBe('aborted');

    const e2 = (await llm.complete({ ...(await request()), signal: AbortSignal.timeout(50) }).catch((e: unknown) => e)) as ProviderError;
    expect(e2.kind).toBe('timeout');
    expect(e2.retriable).toBe(true);
    expect(server!.faults.counters.hangs).toBe(2);
  });

  it('the per-call deadline and a closed port are timeout and network errors', async () => {
    const slow = await start({ latencyMs: 2000 }, { timeoutMs: 100 });
    const e1 = (await slow.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(e1.kind).toBe('timeout');
    expect(e1.message).toBe('openai-responses gpt-5-mini: call timed out (no answer within 100 ms)');
    const down = new OpenAIResponsesProvider({ model: 'gpt-5-mini', apiKey: KEY, baseURL: 'http://127.0.0.1:1/v1' });
    const e2 = (await down.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(e2.kind).toBe('network');
    expect(e2.message).toMatch(/connection failed .*127\.0\.0\.1:1/);
    expect(JSON.stringify(e2)).not.toContain(KEY);
  });

  it('leaves no listener on a long-lived caller signal', async () => {
    const llm = await start();
    const shutdown = new AbortController();
    for (let i = 0; i < 5; i++) await llm.complete({ parts: [{ type: 'text', text: 'x' }], signal: shutdown.signal });
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });

  it('an answer with no text is a non-retriable client error', async () => {
    const llm = await start({ oracle: () => '' });
    const err = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(err.kind).toBe('client');
    expect(err.message).toMatch(/answer has no text: status=completed/);
  });
});
