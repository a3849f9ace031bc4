// The reward node end to end in memory: rollouts in, reward records out, with the real
// @google/genai SDK talking to a fake Vertex AI server that plays the four judges, and the
// programs run in the Python sandbox.
import { MemoryStoreProvider } from '../core/store';
import type { ReasoningRollout, RewardRecord } from '../schemas/generated/types';
import { FakeGeminiServer } from '../test/fakes/fake-gemini-server';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { DEFAULT_TOPIC_NAMES as T } from '../topology/topics';
import { valorTopology } from '../topology/valor-topology';
import { GOOD_ROLLOUT } from '../test/fixtures/records';

jest.setTimeout(60_000);

const GOOD = GOOD_ROLLOUT;

const rollout = (id: string, response: string, groupId = 'g1'): ReasoningRollout => ({
  id,
  groupId,
  groupSize: 5,
  questionId: 'q1',
  question: 'Is the mug left of the laptop?',
  response,
  policyModel: 'Qwen/Qwen3-8B',
  step: 1,
  createdAt: 0,
  lineage: { parents: [], producedBy: 'trainer', producerVersion: '0', versions: {}, source: null },
});

describe('reward processor', () => {
  let server: FakeGeminiServer;
  let baseURL: string;
  // The fake judges: everything passes except the spatial judge on a program that never
  // compares boxes, which answers garbage (no <answer> tag).
  const judge = (text: string): string => {
    if (/spatial/i.test(text) && !/bbox/.test(text.split('Program')[1] ?? text)) return 'I cannot tell.';
    return 'The plan is sound.\n<answer>1</answer>';
  };

  beforeAll(async () => {
    server = new FakeGeminiServer({ oracle: (r) => judge(r.text) });
    baseURL = await server.start();
    process.env.VS_REWARD_TOKEN = 'ya29.reward-test';
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.faults.reset();
  });

  async function run(rollouts: ReasoningRollout[], extra: Record<string, unknown> = {}) {
    const topology = valorTopology({
      nodeConfig: {
        reward: {
          provider: { kind: 'gemini-vertex', project: 'test-project', baseURL, accessTokenEnv: 'VS_REWARD_TOKEN' },
          limits: { timeoutMs: 3_000, backoff: { initialDelayMs: 5, maxDelayMs: 20 } },
          sandbox: { timeoutMs: 3_000, cpuSeconds: 2 },
          ...extra,
        },
      },
    });
    const driver = new TopologyTestDriver(topology, { only: ['reward'], stores: new MemoryStoreProvider() });
    await driver.pipe(
      T.reasoningRollouts,
      rollouts.map((r) => ({ key: r.groupId, value: r })),
    );
    const rewards = new Map((await driver.readAll<RewardRecord>(T.rewardRecords)).map((r) => [r.value.rolloutId, r.value]));
    return { rewards, dead: await driver.deadLetters() };
  }

  it('scores a good rollout 1.0 from syntax and four judges, with provenance and cost', async () => {
    const { rewards, dead } = await run([rollout('r-good', GOOD)]);
    expect(dead).toEqual([]);
    const r = rewards.get('r-good')!;
    expect(r.components).toEqual({ logic: 1, syntax: 1, attributes: 1, spatial: 1, adherence: 1 });
    expect(r.total).toBeCloseTo(1, 9);
    expect(r.weights).toEqual({ logic: 0.3, syntax: 0.1, attributes: 0.2, spatial: 0.2, adherence: 0.2 });
    expect(r).toMatchObject({ formatOk: true, flags: [], judgeProvider: 'gemini-vertex', judgeModel: 'gemini-2.5-flash', groupId: 'g1', groupSize: 5 });
    expect(Object.keys(r.promptHashes).sort()).toEqual(['adherence', 'attributes', 'logic', 'spatial']);
    expect(r.usage.calls).toBe(4);
    expect(r.usage.costUsd).toBeCloseTo((r.usage.inputTokens * 0.3 + r.usage.outputTokens * 2.5) / 1e6, 9);
  });

  it('gates on format: no <plan> means 0 and no judge call', async () => {
    const calls = server.calls.length;
    const { rewards } = await run([rollout('r-noplan', GOOD.replace(/<plan>[\s\S]*<\/plan>/, ''))]);
    const r = rewards.get('r-noplan')!;
    expect(r).toMatchObject({ formatOk: false, total: 0, flags: ['format-gate'] });
    expect(server.calls.length).toBe(calls);
  });

  it('fails the gate on an empty <plan> or <answer> block: formatOk false with the flag, never true with it', async () => {
    const calls = server.calls.length;
    const { rewards } = await run([
      rollout('r-emptyplan', GOOD.replace(/<plan>[\s\S]*<\/plan>/, '<plan> </plan>')),
      rollout('r-emptyanswer', GOOD.replace(/<answer>[\s\S]*<\/answer>/, '<answer>\n</answer>')),
    ]);
    for (const id of ['r-emptyplan', 'r-emptyanswer']) expect(rewards.get(id)).toMatchObject({ formatOk: false, total: 0, flags: ['format-gate'] });
    expect(server.calls.length).toBe(calls);
  });

  it('weights the components: a malicious program loses the syntax share, an unparsable judge its own', async () => {
    const evil = GOOD.replace('final_answer =', 'open("/etc/passwd").read()\nfinal_answer =');
    const noBoxes = `<plan>1. Ask about it.</plan><answer>\nfinal_answer = vqa(img_pth, None, "Is the mug left of the laptop?")\n</answer>`;
    const { rewards } = await run([rollout('r-evil', evil), rollout('r-nobox', noBoxes)]);
    const evilR = rewards.get('r-evil')!;
    expect(evilR.components.syntax).toBe(0);
    expect(evilR.total).toBeCloseTo(0.9, 9);
    expect(evilR.flags.some((f) => f.startsWith('syntax:') && /refused|denied|PermissionError/i.test(f))).toBe(true);
    const nobox = rewards.get('r-nobox')!;
    expect(nobox.components.spatial).toBe(0);
    expect(nobox.flags).toContain('judge-unparsable:spatial');
    expect(nobox.total).toBeCloseTo(0.8, 9);
  });

  it('rides out judge 429s and 500s without losing a rollout; a judge that keeps failing dead-letters the rollout', async () => {
    server.faults.startRateLimitStorm(6, 0.05);
    server.faults.failNext(3, 500);
    const ok = await run([rollout('r-a', GOOD), rollout('r-b', GOOD, 'g2')]);
    expect(ok.dead).toEqual([]);
    expect([...ok.rewards.keys()].sort()).toEqual(['r-a', 'r-b']);

    server.faults.failNext(1000, 400);
    const bad = await run([rollout('r-c', GOOD)]);
    expect(bad.rewards.size).toBe(0);
    expect(bad.dead).toHaveLength(1);
    expect(bad.dead[0]!.reason).toMatch(/reward judge '\w+' failed/);
    server.faults.reset();
  });

  it('refuses the old name of the provider field, saying the new one', async () => {
    await expect(run([rollout('r-j', GOOD)], { judge: { kind: 'gemini-vertex', project: 'p' } })).rejects.toThrow(
      /config\.judge: judge was renamed to provider/,
    );
  });

  it('refuses weights that do not sum to 1, naming the field', async () => {
    await expect(run([rollout('r-w', GOOD)], { weights: { logic: 0.2 } })).rejects.toThrow(/weights/);
  });
});
