// The reward endpoint end to end in one process: OpenRLHF-style requests over real HTTP, the
// embedded exchange, the real reward node (Python sandbox included) and the real
// @google/genai SDK talking to a fake Vertex AI server that plays the four judges.
import { Registry } from 'prom-client';
import { EmbeddedRewardExchange, judgeBreakerDown } from './embedded-reward-exchange';
import { EmbeddedRuntime } from '../../runtime/embedded/embedded-runtime';
import type { ReasoningRollout, RewardGroup, RewardRecord } from '../../schemas/generated/types';
import { FakeGeminiServer } from '../../test/fakes/fake-gemini-server';
import { DEFAULT_TOPIC_NAMES as T } from '../../topology/topics';
import { valorTopology } from '../../topology/valor-topology';
import { PipelineDownError, RewardExchange, RewardWaiters } from './reward-exchange';
import { rolloutsFromRequest } from './reward-request';
import { RewardServer } from './reward-server';
import { GOOD_ROLLOUT } from '../../test/fixtures/records';

jest.setTimeout(60_000);

const GOOD = `${GOOD_ROLLOUT}<|im_end|>`;
// Syntax passes, but the spatial judge cannot tell without boxes: 1 - 0.2.
const NO_BOXES = `<plan>1. Ask about it.</plan><answer>\nfinal_answer = vqa(img_pth, None, "Is the cup right of the book?")\n</answer>`;
// No <answer> block: the format gate scores it 0 before any judge is called.
const NO_ANSWER = '<plan>1. Detect the mug.</plan> The mug is on the left.';

const chat = (q: string) =>
  `<|im_start|>system\nAnswer with <plan>…</plan><answer>program</answer>.<|im_end|>\n<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;
const P1 = chat('Is the mug left of the laptop?');
const P2 = chat('Is the cup right of the book?');

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/get_reward`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as { rewards?: number[]; scores?: number[]; extra_logs?: Record<string, number[]>; error?: string },
  };
}

// The components of each response above, as the endpoint lists them in extra_logs.
const COMPONENTS = ['logic', 'syntax', 'attributes', 'spatial', 'adherence', 'format_ok'] as const;
const ALL = (v: number) => Object.fromEntries(COMPONENTS.map((c) => [c, v]));
const LOGS: Record<string, Record<string, number>> = { GOOD: ALL(1), NO_BOXES: { ...ALL(1), spatial: 0 }, NO_ANSWER: ALL(0) };
const logsOf = (names: string[]) => Object.fromEntries(COMPONENTS.map((c) => [c, names.map((n) => LOGS[n]![c]!)]));

// The reward node with the fake judges, as every test here configures it.
const rewardNode = (baseURL: string) => ({
  provider: { kind: 'gemini-vertex', project: 'test-project', baseURL, accessTokenEnv: 'VS_ENDPOINT_TOKEN' },
  limits: { timeoutMs: 3_000, backoff: { initialDelayMs: 5, maxDelayMs: 20 }, breaker: { cooldownMs: 800, maxCooldownMs: 800 } },
  sandbox: { timeoutMs: 3_000, cpuSeconds: 2 },
});

describe('reward endpoint on the embedded runtime', () => {
  let judge: FakeGeminiServer;
  let runtime: EmbeddedRuntime;
  let exchange: EmbeddedRewardExchange;
  let server: RewardServer;
  let url: string;

  beforeAll(async () => {
    judge = new FakeGeminiServer({
      oracle: (r) => (/spatial/i.test(r.text) && !/bbox/.test(r.text.split('Program')[1] ?? r.text) ? 'I cannot tell.' : 'Sound.\n<answer>1</answer>'),
    });
    const baseURL = await judge.start();
    process.env.VS_ENDPOINT_TOKEN = 'ya29.endpoint-test';
    const reward = rewardNode(baseURL);
    const topology = valorTopology({ partitions: 2, nodeConfig: { reward } });
    runtime = new EmbeddedRuntime(topology, { only: ['reward'] });
    exchange = new EmbeddedRewardExchange(runtime, { down: judgeBreakerDown(runtime, reward) });
    server = new RewardServer({ exchange, timeoutMs: 30_000, maxBodyBytes: 64 * 1024, maxRollouts: 100, registry: new Registry() });
    url = await server.start();
  });
  afterAll(async () => {
    await Promise.all([server.close(), exchange.close()]);
    await runtime.close();
    await judge.close();
  });
  beforeEach(() => judge.faults.reset());

  it('answers an OpenRLHF batch with rewards in query order, grouped by prompt', async () => {
    const body = {
      query: [P1 + GOOD, P2 + NO_BOXES, P1 + NO_ANSWER, P2 + GOOD, P1 + NO_BOXES],
      prompts: [P1, P2, P1, P2, P1],
      labels: [null, null, null, null, null],
    };
    const calls = judge.calls.length;
    const res = await post(url, body, { 'x-request-id': 'batch-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('batch-1');
    const expected = [1, 0.8, 0, 1, 0.8];
    expect(res.body.rewards).toHaveLength(5);
    res.body.rewards!.forEach((r, i) => expect(r).toBeCloseTo(expected[i]!, 9));
    expect(res.body.scores).toEqual(res.body.rewards);
    expect(res.body.extra_logs).toEqual(logsOf(['GOOD', 'NO_BOXES', 'NO_ANSWER', 'GOOD', 'NO_BOXES']));
    // Four judges per rollout that passed the format gate, none for the one that did not.
    expect(judge.calls.length - calls).toBe(4 * 4);

    // The rollouts on the topic: prompt stripped, one group per prompt with its size.
    const mine = rolloutsFromRequest(body, { requestId: 'batch-1', now: 0 });
    const onTopic = new Map((await runtime.read<ReasoningRollout>(T.reasoningRollouts)).map((r) => [r.value.id, r.value]));
    const rollouts = mine.map((m) => onTopic.get(m.id)!);
    expect(rollouts.map((r) => r.response)).toEqual([GOOD, NO_BOXES, NO_ANSWER, GOOD, NO_BOXES]);
    expect(rollouts.map((r) => r.question)).toEqual(body.prompts);
    const [g1, g2] = [rollouts[0]!.groupId, rollouts[1]!.groupId];
    expect(g1).not.toBe(g2);
    expect(rollouts.map((r) => r.groupId)).toEqual([g1, g2, g1, g2, g1]);
    expect(rollouts.map((r) => r.groupSize)).toEqual([3, 2, 3, 2, 3]);

    // The answer is the records' totals, and the records carry the groups.
    const records = new Map((await runtime.read<RewardRecord>(T.rewardRecords)).map((r) => [r.value.rolloutId, r]));
    expect(mine.map((m) => records.get(m.id)!.value.total)).toEqual(res.body.rewards);
    expect(mine.map((m) => records.get(m.id)!.key)).toEqual([g1, g2, g1, g2, g1]);
    expect(records.get(mine[2]!.id)!.value).toMatchObject({ formatOk: false, flags: ['format-gate'], groupId: g1, groupSize: 3 });
  });

  it('scores a format-gate failure 0 without calling a judge', async () => {
    const calls = judge.calls.length;
    const res = await post(url, { query: [P1 + NO_ANSWER, P1 + GOOD.replace(/<plan>[\s\S]*<\/plan>/, '')], prompts: [P1, P1] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ rewards: [0, 0], scores: [0, 0], extra_logs: logsOf(['NO_ANSWER', 'NO_ANSWER']) });
    expect(judge.calls.length).toBe(calls);
  });

  it('gates the response only when the prompt itself explains <plan> and <answer>, also when the prompt was cut from the left', async () => {
    // A system prompt with empty example blocks: the gate on prompt + response would find them.
    const SYS =
      '<|im_start|>system\nWrite the plan in <plan></plan> and the program in <answer></answer>.<|im_end|>\n<|im_start|>user\nIs the mug left of the laptop?<|im_end|>\n<|im_start|>assistant\n';
    // OpenRLHF keeps the last tokens of a prompt that is too long; the example blocks survive the cut.
    const cut = SYS.slice(25);
    expect(cut).toContain('<plan></plan>');
    const EMPTY = '<plan> </plan><answer></answer>';
    const queries = [SYS + GOOD, SYS + NO_ANSWER, cut + GOOD, cut + NO_ANSWER, cut + EMPTY, SYS + EMPTY];
    const body = { query: queries, prompts: queries.map(() => SYS), labels: queries.map(() => null) };
    const res = await post(url, body, { 'x-request-id': 'plan-in-prompt' });
    expect(res.status).toBe(200);
    const expected = [1, 0, 1, 0, 0, 0];
    res.body.rewards!.forEach((r, i) => expect(r).toBeCloseTo(expected[i]!, 9));
    expect(res.body.extra_logs!.format_ok).toEqual([1, 0, 1, 0, 0, 0]);

    const mine = rolloutsFromRequest(body, { requestId: 'plan-in-prompt', now: 0 });
    const onTopic = new Map((await runtime.read<ReasoningRollout>(T.reasoningRollouts)).map((r) => [r.value.id, r.value]));
    expect(mine.map((m) => onTopic.get(m.id)!.response)).toEqual([GOOD, NO_ANSWER, GOOD, NO_ANSWER, EMPTY, EMPTY]);
    const records = new Map((await runtime.read<RewardRecord>(T.rewardRecords)).map((r) => [r.value.rolloutId, r.value]));
    const mineRecords = mine.map((m) => records.get(m.id)!);
    expect(mineRecords.map((r) => r.formatOk)).toEqual([true, false, true, false, false, false]);
    // Consistent: the 'format-gate' flag is there exactly when formatOk is false.
    expect(mineRecords.map((r) => r.flags.includes('format-gate'))).toEqual(mineRecords.map((r) => !r.formatOk));
  });

  it('answers an empty request (an OpenRLHF shard for a second reward URL) with empty lists, even while the pipeline is down', async () => {
    const empty = { rewards: [], scores: [], extra_logs: Object.fromEntries(COMPONENTS.map((c) => [c, []])) };
    const res = await post(url, { query: [], prompts: [], labels: [] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(empty);
    const down = new RewardServer({ exchange: { score: async () => [], down: () => 'down', close: async () => undefined }, registry: new Registry() });
    const downUrl = await down.start();
    try {
      expect((await post(downUrl, { query: [] })).body).toEqual(empty);
    } finally {
      await down.close();
    }
  });

  it('takes responses alone too (verl, TRL): the prompt is not in the query', async () => {
    const res = await post(url, { query: [GOOD, NO_ANSWER], prompts: ['Is the mug left of the laptop?', 'Is the mug left of the laptop?'] });
    expect(res.status).toBe(200);
    expect(res.body.rewards![0]).toBeCloseTo(1, 9);
    expect(res.body.rewards![1]).toBe(0);
  });

  it.each([
    ['{"query": [', /^invalid JSON body: /],
    [{}, /^invalid \/get_reward body: query: Invalid input: expected array, received undefined$/],
    [{ query: ['a', 'b'], prompts: ['p'] }, /prompts: must have as many items as query \(2\), has 1$/],
    [{ query: ['a', { text: 'b' }] }, /query\.1: Invalid input: expected string/],
    [{ query: ['a'], prompts: 'p' }, /prompts: Invalid input: expected array/],
  ])('answers 400 naming the field for %j', async (body, message) => {
    const res = await post(url, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
  });

  it('answers 413 for an oversized body or batch, and 404/405 off the route', async () => {
    const big = await post(url, { query: ['x'.repeat(70 * 1024)] });
    expect(big.status).toBe(413);
    expect(big.body.error).toMatch(/larger than the limit of 65536 bytes/);
    const many = await post(url, { query: Array.from({ length: 101 }, () => 'x') });
    expect(many.status).toBe(413);
    expect(many.body.error).toBe('query has 101 items; at most 100 per request');
    expect((await fetch(`${url}/reward`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(`${url}/get_reward`)).status).toBe(405);
    // The server still answers on a fresh connection.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('fails fast with 502 naming the rollout when the pipeline dead-letters it', async () => {
    judge.faults.failNext(1000, 400);
    const t0 = Date.now();
    const res = await post(url, { query: [P1 + GOOD], prompts: [P1] }, { 'x-request-id': 'doomed' });
    const [id] = rolloutsFromRequest({ query: [P1 + GOOD], prompts: [P1] }, { requestId: 'doomed', now: 0 }).map((r) => r.id);
    expect(res.status).toBe(502);
    expect(res.body.error).toContain(`rollout ${id} was dead-lettered by the pipeline: reward: `);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('answers 503 while the judge is down (breaker open), and scores what it had taken once the judge is back', async () => {
    judge.faults.failNext(5, 503);
    const taken = post(url, { query: [P1 + GOOD], prompts: [P1] });
    let health = await fetch(`${url}/healthz`);
    for (let i = 0; i < 200 && health.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 10));
      health = await fetch(`${url}/healthz`);
    }
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'down', reason: 'the reward judge gemini-vertex/gemini-2.5-flash is down (circuit breaker open)' });
    const refused = await post(url, { query: [P1 + GOOD], prompts: [P1] });
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatch(/circuit breaker open/);
    const first = await taken;
    expect(first.status).toBe(200);
    expect(first.body.rewards![0]).toBeCloseTo(1, 9);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('reports health and counts requests', async () => {
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/valor_reward_endpoint_requests_total\{route="\/get_reward",status="200"\} \d+/);
    expect(metrics).toMatch(/valor_reward_endpoint_rollouts_total\{outcome="scored"\} \d+/);
  });
});

describe('reward endpoint for current OpenRLHF: one sample per request, grouped across requests', () => {
  let judge: FakeGeminiServer;
  let runtime: EmbeddedRuntime;
  let exchange: EmbeddedRewardExchange;
  let server: RewardServer;
  let url: string;

  beforeAll(async () => {
    judge = new FakeGeminiServer({
      oracle: (r) => (/spatial/i.test(r.text) && !/bbox/.test(r.text.split('Program')[1] ?? r.text) ? 'I cannot tell.' : 'Sound.\n<answer>1</answer>'),
    });
    const baseURL = await judge.start();
    process.env.VS_ENDPOINT_TOKEN = 'ya29.endpoint-test';
    // The reward node and group completion, as `valor-stream run` would run them.
    const topology = valorTopology({ partitions: 2, nodeConfig: { reward: rewardNode(baseURL), 'reward-group': { timeoutMs: 60_000 } } });
    runtime = new EmbeddedRuntime(topology, { only: ['reward', 'reward-group'] });
    exchange = new EmbeddedRewardExchange(runtime);
    server = new RewardServer({ exchange, timeoutMs: 30_000, registry: new Registry(), grouping: { groupSize: 4, windowMs: 60_000, runId: 'openrlhf-unit' } });
    url = await server.start();
  });
  afterAll(async () => {
    await Promise.all([server.close(), exchange.close()]);
    await runtime.close();
    await judge.close();
  });

  it('takes n requests of one sample for one prompt as one complete group of n, and answers each with its own reward and components', async () => {
    const names = ['GOOD', 'NO_BOXES', 'NO_ANSWER', 'GOOD'];
    const responses: Record<string, string> = { GOOD, NO_BOXES, NO_ANSWER };
    // What openrlhf/utils/agent.py posts for each sample: prompt + response decoded as one
    // string, the prompt, the label; no request id. The samples of a prompt are in flight together.
    const answers = await Promise.all(names.map((n) => post(url, { query: [P1 + responses[n]], prompts: [P1], labels: ['yes'] })));
    const expected: Record<string, number> = { GOOD: 1, NO_BOXES: 0.8, NO_ANSWER: 0 };
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.body.rewards).toHaveLength(1);
      expect(a.body.rewards![0]).toBeCloseTo(expected[names[i]!]!, 9);
      expect(a.body.scores).toEqual(a.body.rewards);
      expect(a.body.extra_logs).toEqual(logsOf([names[i]!]));
    });

    // One group of four on reward-groups, complete, with all four samples (the two identical ones too).
    const groups = (await runtime.read<RewardGroup>(T.rewardGroups)).map((g) => g.value);
    expect(groups).toHaveLength(1);
    const group = groups[0]!;
    expect(group).toMatchObject({ groupSize: 4, partial: false });
    expect(group.members).toHaveLength(4);
    expect(group.mean).toBeCloseTo(0.7, 9);
    const rollouts = (await runtime.read<ReasoningRollout>(T.reasoningRollouts)).map((r) => r.value);
    expect(rollouts).toHaveLength(4);
    expect(new Set(rollouts.map((r) => r.id)).size).toBe(4);
    expect(rollouts.every((r) => r.groupId === group.groupId && r.groupSize === 4 && r.question === P1)).toBe(true);
    expect(rollouts.map((r) => r.response).sort()).toEqual(names.map((n) => responses[n]!).sort());
    expect(group.members.map((m) => m.rolloutId).sort()).toEqual(rollouts.map((r) => r.id).sort());
  });

  it('gives a retried request the same rollout, which the group counts once', async () => {
    const P = chat('Is the lamp above the desk?');
    const body = { query: [P + GOOD], prompts: [P], labels: [null] };
    judge.faults.failNext(1000, 400); // the first attempt is dead-lettered: 502
    const first = await post(url, body);
    expect(first.status).toBe(502);
    judge.faults.reset();
    const retry = await post(url, body);
    expect(retry.status).toBe(200);
    const rollouts = (await runtime.read<ReasoningRollout>(T.reasoningRollouts)).map((r) => r.value).filter((r) => r.question === P);
    expect(rollouts).toHaveLength(2);
    expect(rollouts[1]!.id).toBe(rollouts[0]!.id);
    expect(first.body.error).toContain(`rollout ${rollouts[0]!.id} was dead-lettered`);
  });
});

describe('reward endpoint status codes', () => {
  async function withServer(exchange: RewardExchange, fn: (url: string) => Promise<void>, timeoutMs = 5_000) {
    const server = new RewardServer({ exchange, timeoutMs, registry: new Registry() });
    const url = await server.start();
    try {
      await fn(url);
    } finally {
      await server.close();
    }
  }
  const waiters = new RewardWaiters();
  const never: RewardExchange = { score: (rs, o) => waiters.wait(rs, o).promise, down: () => null, close: async () => undefined };

  it('answers 504 naming the rollouts whose records did not come', async () => {
    await withServer(
      never,
      async (url) => {
        const res = await post(url, { query: ['a', 'b'] }, { 'x-request-id': 'slow' });
        const ids = rolloutsFromRequest({ query: ['a', 'b'] }, { requestId: 'slow', now: 0 }).map((r) => r.id);
        expect(res.status).toBe(504);
        expect(res.body.error).toBe(`no reward record for 2 of 2 rollout(s) within 200 ms: ${ids.join(', ')}`);
      },
      200,
    );
  });

  it('answers 503 while the pipeline is down, on /get_reward and /healthz', async () => {
    const reason = "no reward node is running: consumer group 'valor.reward' has no members";
    await withServer({ ...never, down: () => reason }, async (url) => {
      const res = await post(url, { query: ['a'] });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.body.error).toBe(reason);
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: 'down', reason });
    });
    await withServer({ ...never, score: async () => Promise.reject(new PipelineDownError('cannot produce rollouts: broker unreachable')) }, async (url) => {
      const res = await post(url, { query: ['a'] });
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('cannot produce rollouts: broker unreachable');
    });
  });

  it('answers 503 while the embedded pipeline cannot start, naming why', async () => {
    const topology = valorTopology({
      nodeConfig: {
        reward: { provider: { kind: 'gemini-vertex', project: 'p', baseURL: 'http://127.0.0.1:9' }, prompts: { logic: '/nonexistent/logic-v9.md' } },
      },
    });
    const exchange = new EmbeddedRewardExchange(new EmbeddedRuntime(topology, { only: ['reward'] }));
    await withServer(exchange, async (url) => {
      const first = await post(url, { query: ['a'] });
      expect(first.status).toBe(503);
      expect(first.body.error).toMatch(/^the embedded pipeline cannot take rollouts: .*logic-v9\.md/);
      // The run that follows fails too and marks the endpoint down until a run succeeds.
      let health = await fetch(`${url}/healthz`);
      for (let i = 0; i < 100 && health.status === 200; i++) {
        await new Promise((r) => setTimeout(r, 10));
        health = await fetch(`${url}/healthz`);
      }
      expect(health.status).toBe(503);
      expect(((await health.json()) as { reason: string }).reason).toMatch(/^the embedded pipeline failed: .*logic-v9\.md/);
      expect((await post(url, { query: ['a'] })).status).toBe(503);
    });
    await exchange.close();
  });

  it('listens on 127.0.0.1 by default', async () => {
    await withServer(never, async (url) => expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/));
  });
});
