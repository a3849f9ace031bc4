import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../core/errors';
import { FakeGeminiServer } from '../../test/fakes/fake-gemini-server';
import type { FaultOptions } from '../../test/fakes/fake-faults';
import { ProviderError } from '../llm/provider';
import type { ResilienceConfigInput, ResilientProvider } from '../llm/resilient-provider';
import { Resources } from '../../core/resources';
import { sharedProvider } from '../llm/shared-providers';
import { JudgeCallError, JudgeLlm, JudgeName, JUDGES, RewardJudges } from './judges';

const TOKEN_ENV = 'VALOR_TEST_JUDGE_TOKEN';
const INPUT = {
  question: 'Is the red cup left of the laptop?',
  plan: '1. Detect the red cup and the laptop.\n2. If either is missing, answer "no".\n3. Compare box centers.',
  // Text that looks like a placeholder must reach the judge verbatim.
  program: 'cups = gd_detect(img_pth, "red cup")\n# not a {{plan}} placeholder\nfinal_answer = "yes"',
};

/** Which judge a request is for, from the wording of its prompt. */
function judgeOf(text: string): JudgeName {
  if (text.includes('grading the LOGIC')) return 'logic';
  if (text.includes('OBJECT ATTRIBUTES')) return 'attributes';
  if (text.includes('SPATIAL RELATIONS')) return 'spatial';
  if (text.includes('FOLLOWS ITS PLAN')) return 'adherence';
  throw new Error(`fake judge: cannot tell which judge this prompt is for: ${text.slice(0, 80)}`);
}

const PROMPTS = RewardJudges.loadPrompts();

describe('RewardJudges.loadPrompts', () => {
  it('loads the four v2 prompts with 16-hex sha256 prefixes and every placeholder', () => {
    for (const j of JUDGES) {
      const p = PROMPTS[j];
      expect(path.basename(p.file)).toBe(`${j}-v2.md`);
      expect(p.hash).toMatch(/^[0-9a-f]{16}$/);
      expect(p.text).toMatch(/\{\{question\}\}[\s\S]*\{\{plan\}\}[\s\S]*\{\{program\}\}/);
      expect(p.text).toMatch(/<answer>1<\/answer> or <answer>0<\/answer>\.\s*$/);
      expect(judgeOf(p.text)).toBe(j);
    }
    expect(new Set(JUDGES.map((j) => PROMPTS[j].hash)).size).toBe(4);
  });

  it('names the field of a missing prompt file', () => {
    expect(() => RewardJudges.loadPrompts({ spatial: 'spatial-v9.md' })).toThrow(ConfigError);
    expect(() => RewardJudges.loadPrompts({ spatial: 'spatial-v9.md' })).toThrow(/prompts\.spatial: prompt file 'spatial-v9\.md' not found/);
  });

  it('rejects at load time a prompt with an unknown or a missing placeholder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'judge-prompts-'));
    const unknown = path.join(dir, 'unknown.md');
    const missing = path.join(dir, 'missing.md');
    fs.writeFileSync(unknown, '{{question}} {{plan}} {{program}} {{image}}');
    fs.writeFileSync(missing, '{{question}} {{program}}');
    try {
      expect(() => RewardJudges.loadPrompts({ logic: unknown })).toThrow(/prompts\.logic: .*uses \{\{image\}\}/);
      expect(() => RewardJudges.loadPrompts({ adherence: missing })).toThrow(/prompts\.adherence: .*lacks \{\{plan\}\}/);
      expect(() => RewardJudges.loadPrompts({ extra: 'x.md' } as never)).toThrow(/invalid judge prompts config/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('RewardJudges through @google/genai and the fake Vertex server', () => {
  let server: FakeGeminiServer | undefined;
  let llm: ResilientProvider | undefined;
  let resources = new Resources();
  let arrivals: Array<{ judge: JudgeName; at: number }>;

  beforeAll(() => {
    process.env[TOKEN_ENV] = 'ya29.fake-token';
  });
  afterAll(() => {
    delete process.env[TOKEN_ENV];
  });
  afterEach(async () => {
    await resources.closeAll(); // closes llm
    resources = new Resources();
    await server?.close();
    server = undefined;
    llm = undefined;
  });

  const start = async (
    answers: Partial<Record<JudgeName, string>> = {},
    faults: FaultOptions = {},
    limits: ResilienceConfigInput = {},
    /** Answer no call until this many have arrived: only concurrent calls can all be answered. */
    barrier = 0,
  ): Promise<RewardJudges> => {
    arrivals = [];
    server = new FakeGeminiServer({
      faults,
      oracle: async (req) => {
        const judge = judgeOf(req.text);
        arrivals.push({ judge, at: Date.now() });
        for (let waited = 0; arrivals.length < barrier && waited < 30_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
        return answers[judge] ?? `The ${judge} checks hold.\n<answer>1</answer>`;
      },
    });
    const baseURL = await server.start();
    llm = sharedProvider(
      resources,
      { kind: 'gemini-vertex', project: 'p', baseURL, accessTokenEnv: TOKEN_ENV },
      { timeoutMs: 2000, backoff: { initialDelayMs: 5, maxDelayMs: 20 }, ...limits },
    );
    return new RewardJudges(llm, PROMPTS);
  };

  it('runs the four judges concurrently and scores each from its last tag', async () => {
    // Each call is held until all four have arrived; calls made one after another would time
    // out at the first. No timing is asserted: a busy machine is slow, not wrong.
    const judges = await start({ spatial: 'Box centers are compared, but the x axis is reversed.\n<answer>0</answer>' }, {}, { timeoutMs: 60_000 }, 4);
    const r = await judges.judgeAll(INPUT);

    expect(r.components.logic).toEqual({ score: 1, parsed: true, raw: 'The logic checks hold.\n<answer>1</answer>', promptHash: PROMPTS.logic.hash });
    expect(r.components.spatial).toMatchObject({ score: 0, parsed: true, promptHash: PROMPTS.spatial.hash });
    expect(r.components.attributes.score).toBe(1);
    expect(r.components.adherence.score).toBe(1);
    expect(r.usage.calls).toBe(4);
    expect(r.usage.inputTokens).toBeGreaterThan(0);
    expect(r.usage.outputTokens).toBeGreaterThan(0);
    expect(r.usage.costUsd).toBeGreaterThan(0);

    // Overlap: every judge's call was in flight at once (the barrier let them through).
    expect(arrivals.map((a) => a.judge).sort()).toEqual([...JUDGES].sort());

    // The judge sees the rollout verbatim, with the template fully filled.
    const sent = server!.calls.find((c) => judgeOf(c.text) === 'logic')!;
    expect(sent.model).toBe('gemini-2.5-flash');
    expect(sent.text).toContain(INPUT.question);
    expect(sent.text).toContain(INPUT.plan);
    expect(sent.text).toContain('# not a {{plan}} placeholder');
    expect(sent.text.replace(INPUT.program, '')).not.toMatch(/\{\{\w+\}\}/);
    // Plain-text answers: no JSON schema is asked for.
    expect(sent.body.generationConfig?.responseJsonSchema).toBeUndefined();
  });

  it('scores an answer with no readable tag as 0 with parsed=false, keeping the raw tail', async () => {
    const garbage = `${'blah '.repeat(1000)}I am not sure.`;
    await start({ attributes: garbage, logic: 'Fine. <answer>yes</answer>' });
    const judges = new RewardJudges(llm!, PROMPTS, { rawAnswerLimit: 100 });
    const r = await judges.judgeAll(INPUT);
    expect(r.components.attributes).toMatchObject({ score: 0, parsed: false });
    expect(r.components.attributes.raw).toMatch(/^…\(5014 chars\) .*I am not sure\.$/);
    expect(r.components.attributes.raw.length).toBeLessThan(130);
    expect(r.components.logic).toMatchObject({ score: 0, parsed: false, raw: 'Fine. <answer>yes</answer>' });
    expect(r.components.spatial).toMatchObject({ score: 1, parsed: true });
  });

  it('still scores through a 429 storm: the provider waits and retries', async () => {
    const judges = await start();
    server!.faults.startRateLimitStorm(6, 0.02);
    const r = await judges.judgeAll(INPUT);
    expect(JUDGES.map((j) => r.components[j].score)).toEqual([1, 1, 1, 1]);
    expect(server!.faults.counters.byStatus[429]).toBe(6);
    expect(r.usage.calls).toBe(4);
    expect(llm!.totals().rateLimitWaits).toBeGreaterThanOrEqual(1);
  });

  it('still scores through 500s, even when they open the breaker', async () => {
    // Six 500s in a row trip the default threshold of 5: calls wait out a short cooldown.
    // The server's latency keeps the four retries in flight together, so the sixth 500
    // lands on a call sent before the breaker opened, never on a half-open probe (which
    // would open it a second time, depending on timing).
    const judges = await start({}, { latencyMs: 200 }, { breaker: { cooldownMs: 50, maxCooldownMs: 100 } });
    server!.faults.failNext(6, 500);
    const r = await judges.judgeAll(INPUT);
    expect(JUDGES.map((j) => r.components[j].score)).toEqual([1, 1, 1, 1]);
    expect(server!.faults.counters.byStatus[500]).toBe(6);
    expect(llm!.totals().retries).toBeGreaterThanOrEqual(6);
    expect(llm!.totals().breakerOpens).toBe(1);
  });

  it('retries a call that hangs past the per-call timeout', async () => {
    const judges = await start({}, {}, { timeoutMs: 300 });
    server!.faults.hangNext(2);
    const r = await judges.judgeAll(INPUT);
    expect(JUDGES.map((j) => r.components[j].score)).toEqual([1, 1, 1, 1]);
    expect(server!.faults.counters.hangs).toBe(2);
    expect(llm!.totals().retries).toBe(2);
    expect(r.latencyMs).toBeGreaterThanOrEqual(300);
  });

  it('throws a clear, non-retriable error when the API refuses the request (400), instead of scoring 0', async () => {
    const judges = await start();
    server!.faults.failNext(100, 400);
    const err = await judges.judgeAll(INPUT).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(JudgeCallError);
    const e = err as JudgeCallError;
    expect(JUDGES).toContain(e.judge);
    expect(e.message).toMatch(/^reward judge '(logic|attributes|spatial|adherence)' failed: .*400/);
    expect(e.retriable).toBe(false);
    expect(e.cause).toBeInstanceOf(ProviderError);
    // A client error is not retried; the other judges are aborted, maybe before they are sent.
    expect(llm!.totals().retries).toBe(0);
    expect(server!.faults.counters.byStatus[400]).toBeGreaterThanOrEqual(1);
    expect(server!.faults.counters.requests).toBeLessThanOrEqual(4);
  });

  it('throws a retriable error once the provider gives up on an outage', async () => {
    const judges = await start({}, {}, { maxAttempts: 2, breaker: { failureThreshold: 100 } });
    server!.faults.setDown(true);
    const err = (await judges.judgeAll(INPUT).catch((e: unknown) => e)) as JudgeCallError;
    expect(err).toBeInstanceOf(JudgeCallError);
    expect(err.message).toMatch(/failed: .*gave up after 2 attempts.*503/);
    expect(err.retriable).toBe(true);
  });
});

describe('RewardJudges with a scripted provider', () => {
  it('aborts the other judges once one fails for good, and waits for them before throwing', async () => {
    const aborted: JudgeName[] = [];
    let inFlight = 0;
    const llm: JudgeLlm = {
      kind: 'scripted',
      model: 'm',
      complete: (req) => {
        const judge = judgeOf((req.parts[0] as { text: string }).text);
        if (judge === 'logic') return Promise.reject(new ProviderError('scripted/m: HTTP 400 bad request', 'client', { status: 400 }));
        inFlight += 1;
        return new Promise((_, reject) =>
          req.signal!.addEventListener('abort', () => {
            aborted.push(judge);
            // The provider settles a little after the abort; judgeAll must wait for it.
            setTimeout(() => {
              inFlight -= 1;
              reject(new ProviderError('scripted/m: call aborted by the caller', 'aborted'));
            }, 10);
          }),
        );
      },
    };
    const err = (await new RewardJudges(llm, PROMPTS).judgeAll(INPUT).catch((e: unknown) => e)) as JudgeCallError;
    expect(err).toBeInstanceOf(JudgeCallError);
    expect(err.judge).toBe('logic');
    expect(err.message).toBe("reward judge 'logic' failed: scripted/m: HTTP 400 bad request");
    expect(aborted.sort()).toEqual(['adherence', 'attributes', 'spatial']);
    expect(inFlight).toBe(0);
  });

  it('passes the caller abort on to every call', async () => {
    const seen: AbortSignal[] = [];
    const llm: JudgeLlm = {
      kind: 'scripted',
      model: 'm',
      complete: (req) => {
        seen.push(req.signal!);
        return new Promise((_, reject) =>
          req.signal!.addEventListener('abort', () => reject(new ProviderError('scripted/m: call aborted by the caller', 'aborted'))),
        );
      },
    };
    const caller = new AbortController();
    const pending = new RewardJudges(llm, PROMPTS).judgeAll(INPUT, caller.signal).catch((e: unknown) => e);
    caller.abort(new Error('shutdown'));
    const err = (await pending) as JudgeCallError;
    expect(err).toBeInstanceOf(JudgeCallError);
    expect(err.retriable).toBe(true);
    expect(seen).toHaveLength(4);
    expect(seen.every((s) => s.aborted)).toBe(true);
  });

  it('names provider, model and prompt hashes in its version', () => {
    const llm: JudgeLlm = { kind: 'gemini-vertex', model: 'gemini-2.5-flash', complete: () => Promise.reject(new Error('unused')) };
    const j = new RewardJudges(llm, PROMPTS);
    expect(j.version).toMatch(/^gemini-vertex:gemini-2\.5-flash:[0-9a-f]{12}$/);
    expect(j.promptHashes).toEqual({
      logic: PROMPTS.logic.hash,
      attributes: PROMPTS.attributes.hash,
      spatial: PROMPTS.spatial.hash,
      adherence: PROMPTS.adherence.hash,
    });
    const edited = { ...PROMPTS, logic: { ...PROMPTS.logic, hash: '0000000000000000' } };
    expect(new RewardJudges(llm, edited).version).not.toBe(j.version);
  });
});
