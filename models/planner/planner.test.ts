import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { sha256Hex } from '../../core/ids';
import { createProvider } from '../llm/create-provider';
import { ProviderError } from '../llm/provider';
import { ProviderRetriesExhausted, ResilientProvider } from '../llm/resilient-provider';
import { FakeOpenAIServer, FakeOpenAIOptions } from '../../test/fakes/fake-openai-server';
import { DEFAULT_PLAN_PROMPT, Planner, plannerConfig, stripThinking } from './planner';

const PROGRAM = '<plan>1. detect</plan><answer>\nb = gd_detect(img_pth, "red circle, blue square")\nfinal_answer = len(b)\n</answer>';
const KEY = 'sk-secret-123';
/** Fast retries, so the fault tests take milliseconds. */
const FAST = { backoff: { initialDelayMs: 1, maxDelayMs: 1, jitter: 0 } };

/** The planner as the plan node builds it: its config through the provider layer (createProvider + ResilientProvider). */
function plannerFor(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const c = plannerConfig.parse(config);
  const registry = new Registry();
  const llm = new ResilientProvider(createProvider(c.provider, env), c.limits, { prices: c.prices, registry });
  return { planner: new Planner(llm, c), llm, registry };
}

const compatible = (baseURL: string, extra: Record<string, unknown> = {}) => ({ kind: 'openai-compatible', baseURL, ...extra });

describe('Planner through the provider layer and the real openai SDK', () => {
  let server: FakeOpenAIServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const start = async (opts: Partial<FakeOpenAIOptions> = {}) => {
    server = new FakeOpenAIServer({ answer: () => PROGRAM, ...opts });
    return server.start();
  };

  it('sends the method sampling settings (top_k too) and the versioned prompt, and maps usage', async () => {
    const baseURL = await start();
    const { planner } = plannerFor({ provider: compatible(baseURL) });
    const r = await planner.plan('Is the red circle left of the blue square?');
    expect(r.text).toBe(PROGRAM);
    expect(r.model).toBe('Qwen/Qwen3-8B');
    const prompt = fs.readFileSync(DEFAULT_PLAN_PROMPT, 'utf8');
    expect(r.promptHash).toBe(sha256Hex(prompt).slice(0, 16));
    // The fake counts prompt tokens as 100 + request number and completion tokens as characters.
    expect(r.usage).toEqual({ inputTokens: 101, outputTokens: PROGRAM.length, cachedInputTokens: 0 });
    const body = server!.requests[0]!.body as Record<string, any>;
    expect(body).toMatchObject({ model: 'Qwen/Qwen3-8B', temperature: 0.7, top_p: 0.8, top_k: 20, max_tokens: 2048 });
    expect(body.max_completion_tokens).toBeUndefined();
    expect(body.stream).toBeFalsy();
    expect(body.response_format).toBeUndefined();
    expect(body.messages).toEqual([
      { role: 'system', content: prompt },
      { role: 'user', content: 'Is the red circle left of the blue square?' },
    ]);
    // The bundled prompt teaches the VALOR tool API and the output format.
    for (const s of ['<plan>', '<answer>', 'gd_detect(img_pth,', 'depth(img_pth, bbox)', 'vqa(img_pth,', 'final_answer']) {
      expect(prompt).toContain(s);
    }
    // No key variable configured: a placeholder goes on the wire (vLLM and Ollama accept any).
    expect(server!.requests[0]!.hadAuthorization).toBe(true);
  });

  it('accounts calls, tokens and dollars like every provider: totals and prom-client metrics', async () => {
    const baseURL = await start();
    const prices = { 'Qwen/Qwen3-8B': { inputPerMTokUsd: 1, outputPerMTokUsd: 2 } };
    const { planner, llm, registry } = plannerFor({ provider: compatible(baseURL), prices });
    const r = await planner.plan('q?');
    const usd = (101 * 1 + PROGRAM.length * 2) / 1e6;
    expect(r.costUsd).toBeCloseTo(usd, 12);
    expect(llm.totals()).toMatchObject({
      provider: 'openai-compatible',
      model: 'Qwen/Qwen3-8B',
      calls: 1,
      failures: 0,
      inputTokens: 101,
      outputTokens: PROGRAM.length,
    });
    const calls = await registry.getSingleMetric('valor_llm_calls_total')!.get();
    expect(calls.values).toContainEqual(
      expect.objectContaining({ value: 1, labels: expect.objectContaining({ provider: 'openai-compatible', model: 'Qwen/Qwen3-8B', outcome: 'ok' }) }),
    );
    const cost = await registry.getSingleMetric('valor_llm_cost_usd_total')!.get();
    expect(cost.values[0]!.value).toBeCloseTo(usd, 12);
  });

  it('uses a configured prompt file, model and sampling, and hashes that prompt', async () => {
    const baseURL = await start();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'planner-')), 'plan-v2.md');
    fs.writeFileSync(file, 'Write a program.');
    const { planner } = plannerFor({ provider: compatible(baseURL, { model: 'valor-8b' }), promptFile: file, temperature: 0, topK: 5, maxOutputTokens: 512 });
    const r = await planner.plan('q?');
    expect(r.promptHash).toBe(sha256Hex('Write a program.').slice(0, 16));
    expect(r.model).toBe('valor-8b');
    expect(server!.requests[0]!.body).toMatchObject({
      model: 'valor-8b',
      temperature: 0,
      top_k: 5,
      max_tokens: 512,
      messages: [
        { role: 'system', content: 'Write a program.' },
        { role: 'user', content: 'q?' },
      ],
    });
  });

  it('sends no sampling field that is set to null', async () => {
    const baseURL = await start();
    const { planner } = plannerFor({ provider: compatible(baseURL), temperature: null, topP: null, topK: null });
    await planner.plan('q?');
    const body = server!.requests[0]!.body;
    expect(body).not.toHaveProperty('temperature');
    expect(body).not.toHaveProperty('top_p');
    expect(body).not.toHaveProperty('top_k');
  });

  it.each([
    ['HTTP 500 twice', { failFirst: 100 }, ProviderRetriesExhausted, true, 2, /gave up after 2 attempts.*HTTP 500/],
    ['HTTP 400', { alwaysStatus: 400 }, ProviderError, false, 1, /openai-compatible Qwen\/Qwen3-8B: HTTP 400: scripted failure/],
    ['HTTP 401', { alwaysStatus: 401 }, ProviderError, false, 1, /HTTP 401/],
    ['empty content', { answer: () => '' }, ProviderError, false, 1, /answer has no text: finish_reason=stop/],
    ['thinking cut off', { answer: () => '<think>hmm, gd_detect(img_pth, "x")' }, ProviderError, false, 1, /answer has no text/],
  ])(
    '%s -> classified by the provider layer (retriable or not), and the key reaches neither the error nor a log',
    async (_name, faults, cls, retriable, requests, msg) => {
      const baseURL = await start(faults);
      const { planner } = plannerFor(
        { provider: compatible(baseURL, { apiKeyEnv: 'PLANNER_API_KEY' }), limits: { ...FAST, maxAttempts: 2 } },
        { PLANNER_API_KEY: KEY },
      );
      const err = await planner.plan('q?').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(cls);
      expect((err as ProviderError).retriable).toBe(retriable);
      expect((err as ProviderError).message).toMatch(msg);
      expect(server!.requests).toHaveLength(requests);
      // The key went on the wire (it must), but nowhere a person or a log can read it.
      expect(server!.calls[0]!.authorization).toBe(`Bearer ${KEY}`);
      const lines: string[] = [];
      const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
      log.error({ err, planner }, 'planner failed');
      for (const seen of [lines.join(''), inspect(err, { depth: 10 }), inspect(planner, { depth: 10 }), String((err as Error).stack)]) {
        expect(seen).not.toContain(KEY);
      }
    },
  );

  it('retries 5xx and 429 in the provider layer, then answers', async () => {
    const baseURL = await start({ rateLimitFirst: 1, failFirst: 2 });
    const { planner, llm } = plannerFor({ provider: compatible(baseURL), limits: { ...FAST, maxAttempts: 3 } });
    expect((await planner.plan('q?')).text).toBe(PROGRAM);
    expect(server!.requests).toHaveLength(4);
    expect(llm.totals()).toMatchObject({ calls: 1, failures: 0, retries: 3 });
  });

  it('waits out an outage behind the circuit breaker instead of failing the call', async () => {
    const baseURL = await start({ failFirst: 4 });
    const { planner, llm } = plannerFor({
      provider: compatible(baseURL),
      limits: { ...FAST, maxAttempts: 2, breaker: { failureThreshold: 2, cooldownMs: 20, maxCooldownMs: 40 } },
    });
    // Four failures in a row would exhaust 2 attempts; with the breaker open they do not count.
    expect((await planner.plan('q?')).text).toBe(PROGRAM);
    expect(server!.requests).toHaveLength(5);
    expect(llm.totals().breakerOpens).toBeGreaterThanOrEqual(1);
    expect(llm.state).toBe('closed');
  });

  it('scrubs the key from a server message that echoes it', async () => {
    const baseURL = await start({
      answer: () => {
        throw new Error(`bad key ${KEY}`);
      },
    });
    const { planner } = plannerFor(
      { provider: compatible(baseURL, { apiKeyEnv: 'PLANNER_API_KEY' }), limits: { ...FAST, maxAttempts: 1 } },
      { PLANNER_API_KEY: KEY },
    );
    const err = (await planner.plan('q?').catch((e: unknown) => e)) as ProviderError;
    expect(err.message).toMatch(/HTTP 500: fake server: bad key \[redacted\]/);
    expect(err.message).not.toContain(KEY);
  });

  it('treats an unreachable server and a timeout as retriable', async () => {
    const { planner: down } = plannerFor({ provider: compatible('http://127.0.0.1:1/v1'), limits: { ...FAST, maxAttempts: 1, timeoutMs: 2000 } });
    const e1 = (await down.plan('q?').catch((e: unknown) => e)) as ProviderError;
    expect(e1).toBeInstanceOf(ProviderError);
    expect(e1.retriable).toBe(true);
    expect(e1.kind).toBe('network');

    const baseURL = await start({ latencyMs: 60_000 });
    const { planner: slow } = plannerFor({ provider: compatible(baseURL), limits: { ...FAST, maxAttempts: 1, timeoutMs: 100 } });
    const e2 = (await slow.plan('q?').catch((e: unknown) => e)) as ProviderError;
    expect(e2.retriable).toBe(true);
    expect(e2.kind).toBe('timeout');
    expect(e2.message).toMatch(/no answer within 100 ms/);
  });

  it('stops waiting when the signal aborts, as a retriable error', async () => {
    const baseURL = await start({ latencyMs: 1000 });
    const { planner } = plannerFor({ provider: compatible(baseURL) });
    const ac = new AbortController();
    const t0 = Date.now();
    const pending = planner.plan('q?', ac.signal).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 50);
    const err = (await pending) as ProviderError;
    expect(Date.now() - t0).toBeLessThan(30_000); // far below the server's 60 s: the abort ended it
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.retriable).toBe(true);
    expect(err.kind).toBe('aborted');
  });

  it('drops Qwen3 thinking so drafts in it add no gd_detect calls', async () => {
    const baseURL = await start({ answer: () => '<think>maybe gd_detect(img_pth, "dog")</think>\n' + PROGRAM });
    const { planner } = plannerFor({ provider: compatible(baseURL) });
    expect((await planner.plan('q?')).text).toBe(PROGRAM);
    expect(stripThinking('draft</think> <answer>x</answer>')).toBe('<answer>x</answer>');
    expect(stripThinking('<answer>x</answer>')).toBe('<answer>x</answer>');
  });
});

describe('plannerConfig', () => {
  const url = 'http://127.0.0.1:1/v1';
  const issues = (input: unknown) => {
    const r = plannerConfig.safeParse(input);
    if (r.success) throw new Error('expected the config to be refused');
    return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('has the shared LLM-node fields with the planner defaults', () => {
    expect(plannerConfig.parse({ provider: { kind: 'openai-compatible', baseURL: url } })).toMatchObject({
      provider: { kind: 'openai-compatible', baseURL: url, model: 'Qwen/Qwen3-8B', maxTokensField: 'max_tokens', responseFormat: 'json_schema' },
      limits: { concurrency: 32, timeoutMs: 60_000, maxAttempts: 8, breaker: { failureThreshold: 5 } },
      maxOutputTokens: 2048,
      temperature: 0.7,
      topP: 0.8,
      topK: 20,
    });
    // The model default belongs to the default kind only.
    expect(plannerConfig.parse({ provider: { kind: 'openai-chat' }, topK: null }).provider.model).toBe('gpt-5-mini');
  });

  it('refuses unknown keys, a provider without kind, and a compatible server without baseURL', () => {
    expect(issues({ provider: { kind: 'openai-compatible', baseURL: url }, apiKey: 'x' })).toEqual([expect.stringContaining('apiKey')]);
    expect(issues({ provider: { baseURL: url } })[0]).toMatch(/^provider/);
    expect(issues({})).toEqual([expect.stringMatching(/^provider\.baseURL: /)]);
  });

  it('refuses the old field names and says the new ones', () => {
    const old = { baseUrl: url, model: 'Qwen/Qwen3-8B', apiKeyEnv: 'PLANNER_API_KEY', maxTokens: 2048, timeoutMs: 60_000, temperature: 0.7 };
    expect(issues({ provider: { kind: 'openai-compatible', baseURL: url }, ...old }).sort()).toEqual([
      'apiKeyEnv: planner.apiKeyEnv was renamed to planner.provider.apiKeyEnv',
      'baseUrl: planner.baseUrl was renamed to planner.provider.baseURL',
      'maxTokens: planner.maxTokens was renamed to planner.maxOutputTokens',
      'model: planner.model was renamed to planner.provider.model',
      'timeoutMs: planner.timeoutMs was renamed to planner.limits.timeoutMs',
    ]);
  });

  it('refuses top_k for the Responses API, which has none', () => {
    expect(issues({ provider: { kind: 'openai-responses' } })).toEqual([
      'topK: the Responses API has no top_k: set planner.topK to null (or use kind openai-compatible)',
    ]);
    expect(plannerConfig.parse({ provider: { kind: 'openai-responses' }, topK: null }).provider.kind).toBe('openai-responses');
  });
});

describe('FakeOpenAIServer', () => {
  it('lists models, records requests and answers 404 elsewhere', async () => {
    const server = new FakeOpenAIServer({ answer: ({ messages }) => `echo ${messages.length}` });
    const baseUrl = await server.start();
    try {
      expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const models = await (await fetch(`${baseUrl}/models`)).json();
      expect(models).toMatchObject({ object: 'list', data: [{ object: 'model' }] });
      expect((await fetch(`${baseUrl}/nope`)).status).toBe(404);
      const res = await fetch(`${baseUrl}/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(await res.json()).toMatchObject({
        object: 'chat.completion',
        model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: 'echo 1' }, finish_reason: 'stop' }],
        usage: { total_tokens: expect.any(Number) },
      });
      expect(server.requests).toEqual([{ body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, hadAuthorization: false }]);
      expect((await fetch(`${baseUrl}/chat/completions`, { method: 'POST', body: '{' })).status).toBe(400);
    } finally {
      await server.close();
    }
  });
});
