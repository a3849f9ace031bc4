import { getEventListeners } from 'node:events';
import { inspect } from 'node:util';
import sharp from 'sharp';
import { FakeGeminiOptions, FakeGeminiServer } from '../../test/fakes/fake-gemini-server';
import { GeminiVertexOptions, GeminiVertexProvider } from './gemini-vertex';
import { CompletionRequest, ProviderError } from './provider';

const TOKEN = 'ya29.test-access-token-0123456789abcdef';
const SCHEMA = { type: 'object', properties: { keep: { type: 'boolean' } }, required: ['keep'], additionalProperties: false };

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 0, g: 128, b: 0 } } })
    .png()
    .toBuffer();
}

describe('GeminiVertexProvider through @google/genai', () => {
  let server: FakeGeminiServer | undefined;
  afterEach(async () => server?.close());

  const start = async (opts: Partial<FakeGeminiOptions> = {}, provider: Partial<GeminiVertexOptions> = {}) => {
    server = new FakeGeminiServer({ oracle: () => '{"keep":true}', requireToken: TOKEN, ...opts });
    const baseURL = await server.start();
    return new GeminiVertexProvider({ model: 'gemini-2.5-flash', project: 'valor-test', location: 'us-central1', baseURL, accessToken: TOKEN, ...provider });
  };

  const request = async (): Promise<CompletionRequest> => ({
    instructions: 'You verify crops.',
    parts: [
      { type: 'image', data: await png(96, 64), mediaType: 'image/png', width: 96, height: 64 },
      { type: 'text', text: 'Is this a cat?' },
    ],
    output: { name: 'crop', schema: SCHEMA },
    maxOutputTokens: 256,
  });

  it('calls the Vertex generateContent path with the bearer token and the request in Vertex shape', async () => {
    const llm = await start({ thoughtsTokens: 40, modelVersion: 'gemini-2.5-flash-001' });
    const r = await llm.complete(await request());
    expect(r.text).toBe('{"keep":true}');
    expect(r.model).toBe('gemini-2.5-flash-001');
    // Thinking is billed as output: candidates + thoughts.
    expect(r.usage).toEqual({
      inputTokens: Math.ceil(('Is this a cat?'.length + 'You verify crops.'.length) / 4) + 3 * 2,
      outputTokens: 4 + 40,
      cachedInputTokens: 0,
    });

    const call = server!.calls[0]!;
    expect(call).toMatchObject({
      apiVersion: 'v1beta1',
      project: 'valor-test',
      location: 'us-central1',
      model: 'gemini-2.5-flash',
      authorization: `Bearer ${TOKEN}`,
    });
    expect(call.body).toEqual({
      contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: expect.any(String) } }, { text: 'Is this a cat?' }] }],
      systemInstruction: { role: 'user', parts: [{ text: 'You verify crops.' }] },
      generationConfig: { responseMimeType: 'application/json', responseJsonSchema: SCHEMA, maxOutputTokens: 256 },
    });
    expect(await sharp(call.images[0]!).metadata()).toMatchObject({ format: 'png', width: 96, height: 64 });
    expect(call.instructions).toBe('You verify crops.');
  });

  it('sends the repair turn as model + user contents, and thinkingBudget when set', async () => {
    const llm = await start({}, { thinkingBudget: 0, apiVersion: 'v1' });
    await llm.complete({ ...(await request()), repair: { previousAnswer: '{"keep":1}', problem: 'keep: expected boolean' } });
    const call = server!.calls[0]!;
    expect(call.apiVersion).toBe('v1');
    expect(call.body.contents.map((c: { role: string }) => c.role)).toEqual(['user', 'model', 'user']);
    expect(call.body.contents[1].parts).toEqual([{ text: '{"keep":1}' }]);
    expect(call.body.contents[2].parts[0].text).toMatch(/keep: expected boolean[\s\S]*corrected JSON/);
    expect(call.body.generationConfig.thinkingConfig).toEqual({ thinkingBudget: 0 });
  });

  it('sends the request sampling as temperature, topP and topK', async () => {
    const llm = await start({ oracle: () => 'ok' });
    await llm.complete({ parts: [{ type: 'text', text: 'hi' }], sampling: { temperature: 0.7, topP: 0.8, topK: 20 } });
    expect(server!.calls[0]!.body.generationConfig).toEqual({ temperature: 0.7, topP: 0.8, topK: 20 });
  });

  it('plain text requests carry no JSON settings', async () => {
    const llm = await start({ oracle: () => 'a cat' });
    const r = await llm.complete({ parts: [{ type: 'text', text: 'hi' }] });
    expect(r.text).toBe('a cat');
    const body = server!.calls[0]!.body;
    expect(body.contents).toEqual([{ role: 'user', parts: [{ text: 'hi' }] }]);
    expect(body).not.toHaveProperty('systemInstruction');
    // genai always sends a generationConfig; ours has nothing to put in it.
    expect(body.generationConfig ?? {}).toEqual({});
  });

  it.each([
    [
      '429 with RetryInfo',
      (s: FakeGeminiServer) => s.faults.startRateLimitStorm(1, 2),
      {},
      'rate-limit',
      429,
      2000,
      /HTTP 429 RESOURCE_EXHAUSTED: Resource exhausted/,
    ],
    [
      '429 with Retry-After',
      (s: FakeGeminiServer) => s.faults.startRateLimitStorm(1, 7),
      { retryHint: 'header' as const },
      'rate-limit',
      429,
      7000,
      /HTTP 429/,
    ],
    ['500', (s: FakeGeminiServer) => s.faults.failNext(1, 500), {}, 'server', 500, undefined, /HTTP 500 INTERNAL/],
    ['503', (s: FakeGeminiServer) => s.faults.setDown(true, 4), {}, 'server', 503, 4000, /HTTP 503 UNAVAILABLE: The service is currently unavailable/],
    ['400', (s: FakeGeminiServer) => s.faults.failNext(1, 400), {}, 'client', 400, undefined, /HTTP 400 INVALID_ARGUMENT/],
    ['403', (s: FakeGeminiServer) => s.faults.failNext(1, 403), {}, 'auth', 403, undefined, /HTTP 403 PERMISSION_DENIED/],
  ] as const)('%s is classified, and the token is nowhere in the error', async (_name, fault, fakeOpts, kind, status, retryAfterMs, message) => {
    const llm = await start(fakeOpts);
    fault(server!);
    const err = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind, status, retryAfterMs });
    expect(err.message).toMatch(/^gemini-vertex gemini-2\.5-flash: /);
    expect(err.message).toMatch(message);
    // One attempt only: genai's own retries are off.
    expect(server!.calls).toHaveLength(1);
    for (const seen of [err.message, JSON.stringify(err), inspect(err, { depth: 10 }), inspect(llm, { depth: 10 }), JSON.stringify(llm)]) {
      expect(seen).not.toContain(TOKEN);
      expect(seen).not.toContain('inlineData');
    }
  });

  it('a wrong token is an auth error (401 UNAUTHENTICATED)', async () => {
    const llm = await start({}, { accessToken: 'ya29.wrong-token-abcdefghijklmnop' });
    const err = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(err).toMatchObject({ kind: 'auth', status: 401, retriable: false });
    expect(err.message).toMatch(/HTTP 401 UNAUTHENTICATED/);
    expect(server!.calls[0]!.hadAuthorization).toBe(true);
  });

  it('a hung request ends on abort (aborted) or on the deadline (timeout)', async () => {
    const llm = await start({}, { timeoutMs: 100 });
    server!.faults.hangNext(2);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const t0 = Date.now();
    const e1 = (await llm.complete({ ...(await request()), signal: ac.signal }).catch((e: unknown) => e)) as ProviderError;
    expect(e1.kind).toBe('aborted');
    expect(Date.now() - t0).toBeLessThan(10_000); // the request hangs forever: the abort ended it
    const e2 = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(e2.kind).toBe('timeout');
    expect(e2.message).toMatch(/no answer within 100 ms/);
  });

  it('a closed port is a network error; no listener stays on the caller signal', async () => {
    // A port that was just in use and is now closed (fetch refuses port 1 outright).
    const gone = new FakeGeminiServer({ oracle: () => '' });
    const goneURL = await gone.start();
    await gone.close();
    const down = new GeminiVertexProvider({ model: 'gemini-2.5-flash', project: 'p', location: 'us-central1', baseURL: goneURL, accessToken: TOKEN });
    const err = (await down.complete({ parts: [{ type: 'text', text: 'x' }] }).catch((e: unknown) => e)) as ProviderError;
    expect(err.kind).toBe('network');
    expect(err.message).toMatch(/ECONNREFUSED/);

    const llm = await start();
    const shutdown = new AbortController();
    for (let i = 0; i < 3; i++) await llm.complete({ parts: [{ type: 'text', text: 'x' }], signal: shutdown.signal });
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });

  it('an empty answer is a client error naming the finish reason', async () => {
    const llm = await start({ oracle: () => '' });
    const err = (await llm.complete(await request()).catch((e: unknown) => e)) as ProviderError;
    expect(err).toMatchObject({ kind: 'client' });
    expect(err.message).toMatch(/answer has no text: finishReason=STOP/);
  });
});
