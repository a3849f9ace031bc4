import { createRequire } from 'node:module';
import OpenAI from 'openai';
import { GoogleGenAI, GoogleGenAIOptions } from '@google/genai';
import sharp from 'sharp';
import { FakeGeminiServer } from './fake-gemini-server';
import { FakeOpenAIServer } from './fake-openai-server';
import { cachedTokensFor, commonPrefixTokens, FakePromptCache, imageSegment, textSegment } from './fake-prompt-cache';

// 5000 characters of instructions: 1250 tokens, a prefix long enough to cache.
const LONG = 'You verify detections. '.repeat(218).slice(0, 5000);

async function png(width: number, height: number, r: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r, g: 0, b: 0 } } })
    .png()
    .toBuffer();
}
const dataUrl = (b: Buffer) => `data:image/png;base64,${b.toString('base64')}`;

describe('the prompt caching rule', () => {
  it('caches from 1024 shared tokens, in steps of 128, at most the input', () => {
    expect(cachedTokensFor(1023, 5000)).toBe(0);
    expect(cachedTokensFor(1024, 5000)).toBe(1024);
    expect(cachedTokensFor(1300, 5000)).toBe(1280);
    expect(cachedTokensFor(1300, 1100)).toBe(1100);
  });

  it('shares whole segments, then the common characters of two texts; images all or nothing', () => {
    const a = Buffer.from('image a');
    const b = Buffer.from('image b');
    expect(commonPrefixTokens([textSegment('x'.repeat(40)), textSegment('abcdefgh1')], [textSegment('x'.repeat(40)), textSegment('abcdefgh2')])).toBe(10 + 2);
    expect(commonPrefixTokens([imageSegment(a, 7), textSegment('same text')], [imageSegment(b, 7), textSegment('same text')])).toBe(0);
    expect(commonPrefixTokens([imageSegment(a, 7), textSegment('abcd')], [imageSegment(a, 7), textSegment('abcd')])).toBe(8);
    expect(commonPrefixTokens([textSegment('abcd')], [imageSegment(a, 7)])).toBe(0);
  });

  it('the first request of a prefix pays in full; the cache is per model; a TTL forgets', () => {
    let now = 0;
    const cache = new FakePromptCache({ ttlMs: 1000, now: () => now });
    const prompt = (tail: string) => [textSegment(LONG), textSegment(tail)];
    expect(cache.serve('m', prompt('one'), 1251)).toBe(0);
    expect(cache.serve('m', prompt('two'), 1251)).toBe(1152);
    expect(cache.serve('other', prompt('two'), 1251)).toBe(0);
    now = 999;
    expect(cache.serve('m', prompt('three'), 1251)).toBe(1152); // used at 999: kept alive
    now = 2500;
    expect(cache.serve('m', prompt('four'), 1251)).toBe(0);
    cache.clear();
    expect(cache.serve('m', prompt('five'), 1251)).toBe(0);
  });
});

describe('FakeOpenAIServer reports cached tokens through the real openai SDK', () => {
  let server: FakeOpenAIServer;
  let client: OpenAI;
  beforeEach(async () => {
    server = new FakeOpenAIServer({ oracle: () => '{"ok":true}' });
    client = new OpenAI({ apiKey: 'sk-test', baseURL: await server.start(), maxRetries: 0 });
  });
  afterEach(() => server.close());

  it('Responses: a second request sharing a >=1024-token prefix gets floor(prefix/128)*128, and the key is recorded', async () => {
    const ask = (text: string) => client.responses.create({ model: 'gpt-5-mini', instructions: LONG, input: text, prompt_cache_key: 'verify-v1' });
    const first = await ask('Q1: is there a dog?');
    expect(first.usage?.input_tokens_details.cached_tokens).toBe(0);
    const second = await ask('Q2: is there a cat?');
    // Shared: the 1250 tokens of the instructions, then 'Q' (under one token) of the input.
    expect(second.usage?.input_tokens).toBe(1250 + Math.ceil('Q2: is there a cat?'.length / 4));
    expect(second.usage?.input_tokens_details.cached_tokens).toBe(1152);
    expect(server.calls.map((c) => c.promptCacheKey)).toEqual(['verify-v1', 'verify-v1']);
    expect(server.usageTotals).toMatchObject({ requests: 2, inputTokens: first.usage!.input_tokens + second.usage!.input_tokens, cachedTokens: 1152 });
  });

  it('a prompt under 1024 tokens never caches', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await client.responses.create({ model: 'gpt-5-mini', instructions: LONG.slice(0, 4000), input: 'same question' });
      expect(r.usage?.input_tokens).toBe(1000 + 4);
      expect(r.usage?.input_tokens_details.cached_tokens).toBe(0);
    }
    expect(server.usageTotals.cachedTokens).toBe(0);
  });

  it('a different image early in the prompt breaks the prefix; the same image keeps it', async () => {
    const [red, blue] = [await png(64, 64, 255), await png(64, 64, 10)];
    const ask = (img: Buffer, question: string) =>
      client.responses.create({
        model: 'gpt-5-mini',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_image', image_url: dataUrl(img), detail: 'auto' },
              { type: 'input_text', text: LONG },
              { type: 'input_text', text: question },
            ],
          },
        ],
      });
    const image = Math.ceil(4 * 1.62); // 2x2 patches on gpt-5-mini: 7 tokens
    expect((await ask(red, 'first')).usage?.input_tokens_details.cached_tokens).toBe(0);
    expect((await ask(blue, 'second')).usage?.input_tokens_details.cached_tokens).toBe(0);
    const third = await ask(red, 'third');
    expect(third.usage?.input_tokens).toBe(image + Math.ceil((LONG.length + 1 + 'third'.length) / 4));
    expect(third.usage?.input_tokens_details.cached_tokens).toBe(Math.floor((image + 1250) / 128) * 128);
  });

  it('Chat: the schema leads the prompt and is billed; cached tokens come in prompt_tokens_details', async () => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
    const ask = (question: string, s = schema) =>
      client.chat.completions.create({
        model: 'gpt-5-mini',
        messages: [
          { role: 'system', content: LONG },
          { role: 'user', content: question },
        ],
        response_format: { type: 'json_schema', json_schema: { name: 'ok', schema: s, strict: true } },
        prompt_cache_key: 'chat-key',
      });
    const first = await ask('one');
    expect(first.usage?.prompt_tokens).toBe(Math.ceil(JSON.stringify(schema).length / 4) + Math.ceil((LONG.length + 'one'.length) / 4));
    expect(first.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    const second = await ask('two');
    expect(second.usage?.prompt_tokens_details?.cached_tokens).toBe(Math.floor((Math.ceil(JSON.stringify(schema).length / 4) + 1250) / 128) * 128);
    // Another schema changes the very first segment: nothing is shared from the start.
    const other = await ask('two', { ...schema, required: [] } as typeof schema);
    expect(other.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    expect(server.calls[0]!.promptCacheKey).toBe('chat-key');
  });
});

/** A bearer-token auth client from genai's own google-auth-library, as the Vertex provider makes one. */
function staticTokenClient(token: string): NonNullable<NonNullable<GoogleGenAIOptions['googleAuthOptions']>['authClient']> {
  const { OAuth2Client } = createRequire(require.resolve('@google/genai'))('google-auth-library');
  const client = new OAuth2Client();
  client.setCredentials({ access_token: token });
  return client;
}

describe('FakeGeminiServer reports implicit caching through @google/genai', () => {
  it('cachedContentTokenCount appears once a long prefix repeats', async () => {
    const server = new FakeGeminiServer({ oracle: () => '{"keep":true}' });
    try {
      const ai = new GoogleGenAI({
        vertexai: true,
        project: 'p',
        location: 'us-central1',
        googleAuthOptions: { authClient: staticTokenClient('ya29.test') },
        httpOptions: { baseUrl: await server.start() },
      });
      // genai's own dispatcher is not reachable from jest's VM context: hand it this realm's fetch.
      const httpOptions = { fetch: (...args: Parameters<typeof fetch>) => fetch(...args) };
      const ask = (q: string) => ai.models.generateContent({ model: 'gemini-2.5-flash', contents: q, config: { systemInstruction: LONG, httpOptions } });
      const first = await ask('first question');
      expect(first.usageMetadata?.promptTokenCount).toBe(Math.ceil((LONG.length + 'first question'.length) / 4));
      expect(first.usageMetadata?.cachedContentTokenCount).toBeUndefined();
      const second = await ask('second question');
      expect(second.usageMetadata?.cachedContentTokenCount).toBe(1152);
      expect(server.usageTotals).toMatchObject({ requests: 2, cachedTokens: 1152 });
    } finally {
      await server.close();
    }
  });
});
