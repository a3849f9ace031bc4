// The reward node in batch mode, driven directly with its punctuation (as a runtime would):
// the judges' calls go to the fake OpenAI Batch API through the real SDK, rollouts wait in
// keyed state while the batch runs, and the records that come out are the synchronous
// node's, at half the price. A Gemini judge provider is refused in batch mode.
import type { AnyProcessorSpec, ProcessorContext } from '../core/processor';
import { driveProcessor } from '../bench/verify-paths';
import { Resources } from '../core/resources';
import { MemoryStoreProvider } from '../core/store';
import type { ReasoningRollout, RewardRecord } from '../schemas/generated/types';
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { GOOD_ROLLOUT } from '../test/fixtures/records';
import { reward, rewardConfig } from './reward';
import { rewardBatch } from './reward-batch';

jest.setTimeout(60_000);

const rollout = (id: string, response: string): ReasoningRollout => ({
  id,
  groupId: 'g1',
  groupSize: 3,
  questionId: 'q1',
  question: 'Is the mug left of the laptop?',
  response,
  policyModel: 'Qwen/Qwen3-8B',
  step: 1,
  createdAt: 0,
  lineage: { parents: [], producedBy: 'trainer', producerVersion: '0', versions: {}, source: null },
});

// Judges: the spatial one fails programs that never compare boxes; the rest pass.
const judge = (text: string) => (/spatial/i.test(text) && !/bbox/.test(text.split('Program')[1] ?? text) ? '<answer>0</answer>' : 'Sound.\n<answer>1</answer>');

async function drive(mode: 'sync' | 'batch', baseURL: string, rollouts: ReasoningRollout[]): Promise<RewardRecord[]> {
  const config = rewardConfig.parse({
    provider: { kind: 'openai-responses', baseURL, apiKeyEnv: 'VS_RB_KEY' },
    sandbox: { timeoutMs: 3_000, cpuSeconds: 2 },
    mode,
    batch: { flushAfterMs: 20, pollEveryMs: 50, recheckMs: 20 },
  });
  const records = rollouts.map((r, i) => ({ key: r.groupId, value: r, origin: { topic: 't', partition: 0, offset: String(i) }, timestamp: 0 }));
  const { emits, parkedAfterInput } = await driveProcessor(
    `reward ${mode}`,
    (mode === 'batch' ? rewardBatch : reward) as AnyProcessorSpec,
    config,
    'reward',
    records,
  );
  if (mode === 'batch') expect(parkedAfterInput).toBeGreaterThan(0); // waiting for the batch
  return emits.map((e) => e.value as RewardRecord);
}

describe('reward node in batch mode', () => {
  let server: FakeOpenAIServer;
  let baseURL: string;
  beforeAll(async () => {
    server = new FakeOpenAIServer({ oracle: (r) => judge(r.text), batch: { completeAfterMs: 100 } });
    baseURL = await server.start();
    process.env.VS_RB_KEY = 'sk-rb';
  });
  afterAll(() => server.close());

  it('scores rollouts exactly as the synchronous node does, through Batch API jobs at half price', async () => {
    const noCompare = GOOD_ROLLOUT.replace(/bbox/g, 'box');
    const rollouts = [rollout('r1', GOOD_ROLLOUT), rollout('r2', noCompare), rollout('r3', 'no plan here')];
    const sync = await drive('sync', baseURL, rollouts);
    const syncCalls = server.requests.length;
    const batch = await drive('batch', baseURL, rollouts);
    expect(server.requests.length).toBe(syncCalls); // batch mode made no synchronous call
    expect(server.batches.counters.created).toBeGreaterThan(0);
    expect([...server.batchSubmissions.values()].every((n) => n === 1)).toBe(true);
    const view = (rs: RewardRecord[]) => rs.map((r) => [r.id, r.components, r.total, r.flags]).sort();
    expect(view(batch)).toEqual(view(sync));
    const cost = (rs: RewardRecord[]) => rs.reduce((s, r) => s + r.usage.costUsd, 0);
    expect(cost(batch)).toBeCloseTo(cost(sync) / 2, 9);
    expect(batch.find((r) => r.rolloutId === 'r3')!.flags).toEqual(['format-gate']);
  });

  it('refuses a provider that has no batch route here', () => {
    const config = rewardConfig.parse({ provider: { kind: 'gemini-vertex', project: 'p' }, mode: 'batch' });
    expect(() =>
      rewardBatch.create(config, { node: 'reward', resources: new Resources(), stores: new MemoryStoreProvider() } as unknown as ProcessorContext),
    ).toThrow(/nodes.reward.mode batch needs provider.kind openai-responses.*Cloud Storage/);
  });
});
