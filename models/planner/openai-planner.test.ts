import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import pino from 'pino';
import { ProcessingError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import { FakeOpenAIServer, FakeOpenAIOptions } from '../../test/fakes/fake-openai-server';
import { DEFAULT_PLAN_PROMPT, OpenAIPlanner, plannerConfig, stripThinking } from './openai-planner';

const PROGRAM = '<plan>1. detect</plan><answer>\nb = gd_detect(img_pth, "red circle, blue square")\nfinal_answer = len(b)\n</answer>';
const KEY = 'sk-secret-123';

describe('OpenAIPlanner through the real openai SDK', () => {
  let server: FakeOpenAIServer | undefined;
  afterEach(async () => server?.close());

  const start = async (opts: Partial<FakeOpenAIOptions> = {}) => {
    server = new FakeOpenAIServer({ answer: () => PROGRAM, ...opts });
    return server.start();
  };

  it('sends the method sampling settings (top_k too) and the versioned prompt, and maps usage', async () => {
    const baseUrl = await start();
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl }), {});
    const r = await planner.plan('Is the red circle left of the blue square?');
    expect(r.text).toBe(PROGRAM);
    expect(r.model).toBe('Qwen/Qwen3-8B');
    const prompt = fs.readFileSync(DEFAULT_PLAN_PROMPT, 'utf8');
    expect(r.promptHash).toBe(sha256Hex(prompt).slice(0, 16));
    // The fake counts prompt tokens as 100 + request number and completion tokens as characters.
    expect(r.usage).toEqual({ inputTokens: 101, outputTokens: PROGRAM.length });
    const body = server!.requests[0]!.body as Record<string, any>;
    expect(body).toMatchObject({ model: 'Qwen/Qwen3-8B', temperature: 0.7, top_p: 0.8, top_k: 20, max_tokens: 2048 });
    expect(body.stream).toBeFalsy();
    expect(body.messages).toEqual([
      { role: 'system', content: prompt },
      { role: 'user', content: 'Is the red circle left of the blue square?' },
    ]);
    // The bundled prompt teaches the VALOR tool API and the output format.
    for (const s of ['<plan>', '<answer>', 'gd_detect(img_pth,', 'depth(img_pth, bbox)', 'vqa(img_pth,', 'final_answer']) {
      expect(prompt).toContain(s);
    }
    // No key configured: a placeholder goes on the wire (vLLM and Ollama accept any).
    expect(server!.requests[0]!.hadAuthorization).toBe(true);
  });

  it('uses a configured prompt file, model and sampling, and hashes that prompt', async () => {
    const baseUrl = await start();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'planner-')), 'plan-v2.md');
    fs.writeFileSync(file, 'Write a program.');
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl, promptFile: file, model: 'valor-8b', temperature: 0, topK: 5 }), {});
    const r = await planner.plan('q?');
    expect(r.promptHash).toBe(sha256Hex('Write a program.').slice(0, 16));
    expect(r.model).toBe('valor-8b');
    expect(server!.requests[0]!.body).toMatchObject({ model: 'valor-8b', temperature: 0, top_k: 5, messages: [{ role: 'system', content: 'Write a program.' }, { role: 'user', content: 'q?' }] });
  });

  it('refuses unknown config keys and defaults the key variable name', () => {
    expect(() => plannerConfig.parse({ baseUrl: 'http://127.0.0.1:1/v1', apiKey: 'x' })).toThrow(/apiKey/);
    expect(plannerConfig.parse({ baseUrl: 'http://127.0.0.1:1/v1' })).toMatchObject({ apiKeyEnv: 'PLANNER_API_KEY', topP: 0.8, timeoutMs: 60_000 });
  });

  it.each([
    ['HTTP 500', true, { failFirst: 1 }, /HTTP 500/],
    ['HTTP 429', true, { rateLimitFirst: 1 }, /HTTP 429/],
    ['HTTP 400', false, { alwaysStatus: 400 }, /HTTP 400: scripted failure/],
    ['HTTP 401', false, { alwaysStatus: 401 }, /HTTP 401/],
    ['empty content', false, { answer: () => '' }, /returned no content \(finish_reason=stop\)/],
    ['thinking cut off', false, { answer: () => '<think>hmm, gd_detect(img_pth, "x")' }, /returned no content/],
  ])('%s -> ProcessingError retriable=%s, and the key reaches neither the error nor a log', async (_name, retriable, faults, msg) => {
    const baseUrl = await start(faults);
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl }), { PLANNER_API_KEY: KEY });
    const err = await planner.plan('q?').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessingError);
    expect((err as ProcessingError).retriable).toBe(retriable);
    expect((err as ProcessingError).message).toMatch(msg);
    // The key went on the wire (it must), but nowhere a person or a log can read it.
    expect(server!.requests[0]!.hadAuthorization).toBe(true);
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    log.error({ err, planner }, 'planner failed');
    for (const seen of [lines.join(''), inspect(err, { depth: 10 }), inspect(planner, { depth: 10 }), JSON.stringify(planner), String((err as Error).stack)]) {
      expect(seen).not.toContain(KEY);
    }
  });

  it('scrubs the key from a server message that echoes it', async () => {
    const baseUrl = await start({ answer: () => { throw new Error(`bad key ${KEY}`); } });
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl }), { PLANNER_API_KEY: KEY });
    const err = (await planner.plan('q?').catch((e: unknown) => e)) as ProcessingError;
    expect(err.message).toMatch(/HTTP 500: fake server: bad key \[redacted\]/);
    expect(err.message).not.toContain(KEY);
  });

  it('treats an unreachable server and a timeout as retriable', async () => {
    const down = new OpenAIPlanner(plannerConfig.parse({ baseUrl: 'http://127.0.0.1:1/v1', timeoutMs: 2000 }), {});
    const e1 = (await down.plan('q?').catch((e: unknown) => e)) as ProcessingError;
    expect(e1).toBeInstanceOf(ProcessingError);
    expect(e1.retriable).toBe(true);

    const baseUrl = await start({ latencyMs: 1000 });
    const slow = new OpenAIPlanner(plannerConfig.parse({ baseUrl, timeoutMs: 100 }), {});
    const e2 = (await slow.plan('q?').catch((e: unknown) => e)) as ProcessingError;
    expect(e2.retriable).toBe(true);
    expect(e2.message).toMatch(/unreachable or timed out/);
  });

  it('stops waiting when the signal aborts, as a retriable error', async () => {
    const baseUrl = await start({ latencyMs: 1000 });
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl }), {});
    const ac = new AbortController();
    const t0 = Date.now();
    const pending = planner.plan('q?', ac.signal).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 50);
    const err = (await pending) as ProcessingError;
    expect(Date.now() - t0).toBeLessThan(900);
    expect(err).toBeInstanceOf(ProcessingError);
    expect(err.retriable).toBe(true);
    expect(err.message).toMatch(/aborted/);
  });

  it('drops Qwen3 thinking so drafts in it add no gd_detect calls', async () => {
    const baseUrl = await start({ answer: () => '<think>maybe gd_detect(img_pth, "dog")</think>\n' + PROGRAM });
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl }), {});
    expect((await planner.plan('q?')).text).toBe(PROGRAM);
    expect(stripThinking('draft</think> <answer>x</answer>')).toBe('<answer>x</answer>');
    expect(stripThinking('<answer>x</answer>')).toBe('<answer>x</answer>');
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
      const res = await fetch(`${baseUrl}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
      expect(await res.json()).toMatchObject({ object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'echo 1' }, finish_reason: 'stop' }], usage: { total_tokens: expect.any(Number) } });
      expect(server.requests).toEqual([{ body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, hadAuthorization: false }]);
      expect((await fetch(`${baseUrl}/chat/completions`, { method: 'POST', body: '{' })).status).toBe(400);
    } finally {
      await server.close();
    }
  });
});
