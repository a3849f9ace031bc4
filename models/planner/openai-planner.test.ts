import { ProcessingError } from '../../core/errors';
import { FakeOpenAIServer } from '../../test/fakes/fake-openai-server';
import { OpenAIPlanner, plannerConfig } from './openai-planner';

const PROGRAM = '<plan>1. detect</plan><answer>\nb = gd_detect(img, "red circle, blue square")\nfinal_answer = len(b)\n</answer>';

describe('OpenAIPlanner through the real openai SDK', () => {
  let server: FakeOpenAIServer | undefined;
  afterEach(async () => server?.close());

  it('sends the method sampling settings and the versioned prompt, and maps usage', async () => {
    server = new FakeOpenAIServer({ answer: () => PROGRAM });
    const baseUrl = await server.start();
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl }), {});
    const r = await planner.plan('Is the red circle left of the blue square?');
    expect(r.text).toBe(PROGRAM);
    expect(r.promptHash).toMatch(/^[0-9a-f]{16}$/);
    expect(r.usage.inputTokens).toBe(101);
    const body = server.requests[0]!.body as Record<string, any>;
    expect(body).toMatchObject({ model: 'Qwen/Qwen3-8B', temperature: 0.7, top_p: 0.8, top_k: 20, max_tokens: 2048 });
    expect(body.messages[0].role).toBe('system');
    expect(body.messages[0].content).toMatch(/gd_detect/);
    expect(body.messages[1]).toEqual({ role: 'user', content: 'Is the red circle left of the blue square?' });
  });

  it.each([
    [{ failFirst: 1 }, true, /HTTP 500/],
    [{ rateLimitFirst: 1 }, true, /HTTP 429/],
    [{ alwaysStatus: 400 }, false, /HTTP 400/],
  ])('classifies %j as retriable=%s without leaking the key', async (faults, retriable, msg) => {
    server = new FakeOpenAIServer({ answer: () => PROGRAM, ...faults });
    const baseUrl = await server.start();
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl }), { PLANNER_API_KEY: 'sk-secret-123' });
    const err = await planner.plan('q?').catch((e) => e);
    expect(err).toBeInstanceOf(ProcessingError);
    expect(err.retriable).toBe(retriable);
    expect(err.message).toMatch(msg);
    expect(JSON.stringify({ m: err.message, s: err.stack })).not.toContain('sk-secret-123');
    expect(server.requests[0]!.hadAuthorization).toBe(true);
  });

  it('treats an unreachable server as retriable', async () => {
    const planner = new OpenAIPlanner(plannerConfig.parse({ baseUrl: 'http://127.0.0.1:1/v1', timeoutMs: 2000 }), {});
    const err = await planner.plan('q?').catch((e) => e);
    expect(err.retriable).toBe(true);
  });
});
