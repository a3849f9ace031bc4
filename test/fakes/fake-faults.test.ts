import sharp from 'sharp';
import { FaultInjector, malformAnswer, SeededRng } from './fake-faults';
import { FakeGeminiServer } from './fake-gemini-server';
import { FakeOpenAIServer } from './fake-openai-server';

const decisions = (f: FaultInjector, n: number) => Array.from({ length: n }, () => f.decide());

describe('FaultInjector', () => {
  it('is deterministic for a seed', () => {
    const opts = { seed: 42, errorRate: 0.3, hangRate: 0.1, malformedRate: 0.2, latencyMs: 5, latencyJitterMs: 10 };
    const a = new FaultInjector(opts);
    const b = new FaultInjector(opts);
    expect(decisions(a, 200)).toEqual(decisions(b, 200));
    expect(Array.from({ length: 20 }, () => a.latencyMs())).toEqual(Array.from({ length: 20 }, () => b.latencyMs()));
    const c = new FaultInjector({ ...opts, seed: 43 });
    expect(decisions(c, 200)).not.toEqual(decisions(new FaultInjector(opts), 200));
    // Rates land near their targets.
    const many = decisions(new FaultInjector({ seed: 7, errorRate: 0.25 }), 4000).filter((d) => d.kind === 'status').length;
    expect(many / 4000).toBeGreaterThan(0.2);
    expect(many / 4000).toBeLessThan(0.3);
    const r = new SeededRng(1);
    for (let i = 0; i < 1000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });

  it('rateLimit windows: the last `burst` of every `every` requests get 429 with Retry-After', () => {
    const f = new FaultInjector({ rateLimit: { every: 5, burst: 2, retryAfterS: 3 } });
    const kinds = decisions(f, 10).map((d) => (d.kind === 'status' ? d.status : d.kind));
    expect(kinds).toEqual(['answer', 'answer', 'answer', 429, 429, 'answer', 'answer', 'answer', 429, 429]);
    expect(f.decide()).toEqual({ kind: 'answer', malformed: false });
    const rl = decisions(f, 4).find((d) => d.kind === 'status');
    expect(rl).toMatchObject({ status: 429, retryAfterMs: 3000 });
  });

  it('storms, scripted failures, hangs, malformed answers and outages, changeable at runtime', () => {
    const f = new FaultInjector();
    f.startRateLimitStorm(2, 4);
    f.failNext(1, 401);
    expect(f.decide()).toMatchObject({ kind: 'status', status: 401 });
    expect(f.decide()).toMatchObject({ kind: 'status', status: 429, retryAfterMs: 4000 });
    expect(f.decide()).toMatchObject({ kind: 'status', status: 429 });
    f.hangNext(1);
    expect(f.decide()).toEqual({ kind: 'hang' });
    f.malformedNext(1);
    expect(f.decide()).toEqual({ kind: 'answer', malformed: true });
    f.setDown(true, 2);
    expect(f.decide()).toMatchObject({ kind: 'status', status: 503, retryAfterMs: 2000 });
    expect(f.decide()).toMatchObject({ kind: 'status', status: 503 });
    f.setDown(false);
    expect(f.decide()).toEqual({ kind: 'answer', malformed: false });
    f.set({ errorRate: 1 });
    expect(f.decide()).toMatchObject({ kind: 'status', status: 500 });
    f.set({ errorRate: 0, malformedRate: 1 });
    expect(f.decide()).toEqual({ kind: 'answer', malformed: true });
    f.set({ malformedRate: 0, hangRate: 1 });
    expect(f.decide()).toEqual({ kind: 'hang' });
  });

  it('malformAnswer never yields JSON', () => {
    for (const s of ['{"ok":true}', '1234', '[]', '""', '', 'x', '{"boxes":[1,2,3],"why":"looks right"}', 'null']) {
      expect(() => JSON.parse(malformAnswer(s))).toThrow();
    }
  });
});

describe('fake servers with faults', () => {
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('FakeOpenAIServer serves /v1/responses in the Responses shape, and counts', async () => {
    const server = new FakeOpenAIServer({ oracle: (r) => `${r.endpoint}:${r.text}`, models: ['gpt-5-mini'] });
    const base = await server.start();
    try {
      const img = await sharp({ create: { width: 33, height: 65, channels: 3, background: 'white' } })
        .png()
        .toBuffer();
      const res = await post(`${base}/responses`, {
        model: 'gpt-5-mini',
        instructions: 'sys',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'abcd' },
              { type: 'input_image', image_url: `data:image/png;base64,${img.toString('base64')}`, detail: 'auto' },
            ],
          },
        ],
      });
      expect(res.status).toBe(200);
      const json = await res.json();
      expect(json).toEqual({
        id: 'resp_1',
        object: 'response',
        created_at: expect.any(Number),
        status: 'completed',
        error: null,
        incomplete_details: null,
        model: 'gpt-5-mini',
        output: [
          { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'responses:abcd', annotations: [] }] },
        ],
        // (4 + 3 chars)/4 -> 2, plus 2x3 patches of 32x32 for a 33x65 image, times gpt-5-mini's
        // 1.62 -> ceil(9.72) = 10; 14 chars out -> 4.
        usage: {
          input_tokens: 12,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: 4,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 16,
        },
        service_tier: 'default',
      });
      expect(server.calls[0]!.images[0]!.equals(img)).toBe(true);
      expect(await (await fetch(`${base}/models`)).json()).toMatchObject({ data: [{ id: 'gpt-5-mini' }] });

      // An image that is not an image is refused, as the real API does.
      const bad = await post(`${base}/chat/completions`, {
        model: 'm',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }],
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/image 0 is not a decodable image/);

      server.faults.setDown(true);
      expect((await post(`${base}/chat/completions`, { model: 'm', messages: [] })).status).toBe(503);
      server.faults.setDown(false);
      expect((await post(`${base}/chat/completions`, { model: 'm', messages: [] })).status).toBe(200);
      expect(server.faults.counters).toMatchObject({
        requests: 4,
        served: 2,
        byStatus: { 200: 3, 400: 1, 503: 1 },
        byEndpoint: { responses: { requests: 1, served: 1 }, chat: { requests: 3, served: 1 } },
      });
    } finally {
      await server.close();
    }
  });

  it('a hung request is answered never, and close() still returns', async () => {
    const server = new FakeOpenAIServer({ oracle: () => 'x' });
    const base = await server.start();
    server.faults.hangNext(1);
    const pending = post(`${base}/chat/completions`, { model: 'm', messages: [] }, {}).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.faults.counters.hangs).toBe(1);
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(10_000); // a hung request never ends by itself: close ended it
    // fetch's TypeError comes from the host realm, so no instanceof here.
    expect(await pending).toMatchObject({ message: 'fetch failed' });
  });

  it('one injector can drive both fakes; FakeGeminiServer answers in Google shapes', async () => {
    const faults = new FaultInjector({ seed: 3 });
    const openai = new FakeOpenAIServer({ oracle: () => '{}', faults });
    const gemini = new FakeGeminiServer({ oracle: () => '{"a":1}', faults, retryHint: 'both' });
    await openai.start();
    const base = await gemini.start();
    const path = `${base}/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent`;
    try {
      const ok = await (await post(path, { contents: [{ role: 'user', parts: [{ text: 'hello world!' }] }] })).json();
      expect(ok).toEqual({
        candidates: [{ content: { role: 'model', parts: [{ text: '{"a":1}' }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 },
        modelVersion: 'gemini-2.5-flash',
        responseId: 'fake-1',
      });
      faults.startRateLimitStorm(1, 2);
      const limited = await post(path, { contents: [{ role: 'user', parts: [{ text: 'x' }] }] });
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('2');
      expect(await limited.json()).toEqual({
        error: {
          code: 429,
          message: 'Resource exhausted. Please try again later.',
          status: 'RESOURCE_EXHAUSTED',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '2s' }],
        },
      });
      faults.setDown(true);
      expect(((await (await post(path, { contents: [{ parts: [{ text: 'x' }] }] })).json()) as { error: unknown }).error).toMatchObject({
        code: 503,
        status: 'UNAVAILABLE',
      });
      faults.setDown(false);
      expect((await post(`${base}/v1/other`, {})).status).toBe(404);
      expect((await post(path, { contents: [] })).status).toBe(400);
      // Unroutable and invalid requests are refused before they count.
      expect(faults.counters.byEndpoint.gemini).toEqual({ requests: 3, served: 1 });
      expect(gemini.calls[0]).toMatchObject({
        apiVersion: 'v1beta1',
        project: 'p',
        location: 'us-central1',
        model: 'gemini-2.5-flash',
        hadAuthorization: false,
      });
    } finally {
      await openai.close();
      await gemini.close();
    }
  });

  it('latency with jitter delays answers', async () => {
    const server = new FakeOpenAIServer({ oracle: () => 'x', faults: { latencyMs: 60, latencyJitterMs: 20 } });
    const base = await server.start();
    try {
      const t0 = Date.now();
      expect((await post(`${base}/chat/completions`, { model: 'm', messages: [] })).status).toBe(200);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    } finally {
      await server.close();
    }
  });
});
