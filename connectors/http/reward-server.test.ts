// The reward endpoint end to end in one process: OpenRLHF-style requests over real HTTP, the
// embedded exchange, the real reward node (Python sandbox included) and the real
// @google/genai SDK talking to a fake Vertex AI server that plays the four judges.
import { Registry } from 'prom-client';
import { EmbeddedRewardExchange, judgeBreakerDown } from '../embedded/embedded-reward-exchange';
import { EmbeddedRuntime } from '../embedded/embedded-runtime';
import { resetSharedProviders } from '../../models/llm/shared-providers';
import type { ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import { FakeGeminiServer } from '../../test/fakes/fake-gemini-server';
import { DEFAULT_TOPIC_NAMES as T } from '../../topology/topics';
import { valorTopology } from '../../topology/valor-topology';
import { PipelineDownError, RewardExchange, RewardWaiters, rolloutsFromRequest } from './reward-exchange';
import { RewardServer } from './reward-server';
import { GOOD_ROLLOUT } from '../../test/fixtures/records';

jest.setTimeout(60_000);

const GOOD = `${GOOD_ROLLOUT}<|im_end|>`;
// Syntax passes, but the spatial judge cannot tell without boxes: 1 - 0.2.
const NO_BOXES = `<plan>1. Ask about it.</plan><answer>\nfinal_answer = vqa(img_pth, None, "Is the cup right of the book?")\n</answer>`;
// No <answer> block: the format gate scores it 0 before any judge is called.
const NO_ANSWER = '<plan>1. Detect the mug.</plan> The mug is on the left.';

const chat = (q: string) => `<|im_start|>system\nAnswer with <plan>…</plan><answer>program</answer>.<|im_end|>\n<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;
const P1 = chat('Is the mug left of the laptop?');
const P2 = chat('Is the cup right of the book?');

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/get_reward`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { rewards?: number[]; scores?: number[]; error?: string } };
}

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
    resetSharedProviders();
    const reward = {
      judge: { kind: 'gemini-vertex', project: 'test-project', baseURL, accessTokenEnv: 'VS_ENDPOINT_TOKEN' },
      limits: { timeoutMs: 3_000, backoff: { initialDelayMs: 5, maxDelayMs: 20 }, breaker: { cooldownMs: 800, maxCooldownMs: 800 } },
      sandbox: { timeoutMs: 3_000, cpuSeconds: 2 },
    };
    const topology = valorTopology({ partitions: 2, nodeConfig: { reward } });
    runtime = new EmbeddedRuntime(topology, { only: ['reward'] });
    exchange = new EmbeddedRewardExchange(runtime, { down: judgeBreakerDown(reward) });
    server = new RewardServer({ exchange, timeoutMs: 30_000, maxBodyBytes: 64 * 1024, maxRollouts: 100, registry: new Registry() });
    url = await server.start();
  });
  afterAll(async () => {
    await Promise.all([server.close(), exchange.close()]);
    await judge.close();
  });
  beforeEach(() => judge.faults.reset());

  it('answers an OpenRLHF batch with rewards in query order, grouped by prompt', async () => {
    const body = { query: [P1 + GOOD, P2 + NO_BOXES, P1 + NO_ANSWER, P2 + GOOD, P1 + NO_BOXES], prompts: [P1, P2, P1, P2, P1], labels: [null, null, null, null, null] };
    const calls = judge.calls.length;
    const res = await post(url, body, { 'x-request-id': 'batch-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('batch-1');
    const expected = [1, 0.8, 0, 1, 0.8];
    expect(res.body.rewards).toHaveLength(5);
    res.body.rewards!.forEach((r, i) => expect(r).toBeCloseTo(expected[i]!, 9));
    expect(res.body.scores).toEqual(res.body.rewards);
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
    expect(res.body).toEqual({ rewards: [0, 0], scores: [0, 0] });
    expect(judge.calls.length).toBe(calls);
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
    [{ query: [] }, /^invalid \/get_reward body: query: Too small/],
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
    const topology = valorTopology({ nodeConfig: { reward: { judge: { kind: 'gemini-vertex', project: 'p', baseURL: 'http://127.0.0.1:9' }, prompts: { logic: '/nonexistent/logic-v9.md' } } } });
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
