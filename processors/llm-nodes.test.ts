// plan (its planner), verify and reward call models through one provider layer, and
// configure it with the same fields.
import { planConfig } from './plan';
import { rewardConfig } from './reward';
import { verifyConfig } from './verify';

const FRAGMENT = {
  provider: { kind: 'openai-compatible', baseURL: 'http://127.0.0.1:8000/v1', model: 'Qwen/Qwen3-VL-8B' },
  limits: { concurrency: 8, requestsPerMinute: 600, timeoutMs: 30_000, maxAttempts: 4, breaker: { cooldownMs: 1_000 } },
  prices: { 'Qwen/Qwen3-VL-8B': { inputPerMTokUsd: 0.1, outputPerMTokUsd: 0.4 } },
  maxOutputTokens: 1024,
};

describe('nodes that call a model', () => {
  it('take the same provider, limits, prices and maxOutputTokens fields, parsed alike', () => {
    const planner = planConfig.parse({ planner: FRAGMENT }).planner!;
    const verify = verifyConfig.parse(FRAGMENT);
    const reward = rewardConfig.parse(FRAGMENT);
    const pick = (c: { provider: unknown; limits: unknown; prices?: unknown; maxOutputTokens?: unknown }) => ({
      provider: c.provider,
      limits: c.limits,
      prices: c.prices,
      maxOutputTokens: c.maxOutputTokens,
    });
    expect(pick(verify)).toEqual(pick(planner));
    expect(pick(reward)).toEqual(pick(planner));
    expect(pick(planner)).toMatchObject({ ...FRAGMENT, limits: { ...FRAGMENT.limits, breaker: { cooldownMs: 1_000, failureThreshold: 5 } } });
  });

  it('default to their own provider kinds', () => {
    expect(verifyConfig.parse({}).provider.kind).toBe('openai-responses');
    expect(rewardConfig.parse({}).provider.kind).toBe('gemini-vertex');
    expect(planConfig.parse({}).planner).toBeUndefined();
  });

  it('refuse the old names with the new ones', () => {
    const messages = (r: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }) =>
      r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages(rewardConfig.safeParse({ judge: { kind: 'gemini-vertex' } }))).toEqual(['judge: judge was renamed to provider']);
    expect(messages(planConfig.safeParse({ planner: { ...FRAGMENT, baseUrl: 'http://h/v1', maxTokens: 10 } }))).toEqual([
      'planner.baseUrl: planner.baseUrl was renamed to planner.provider.baseURL',
      'planner.maxTokens: planner.maxTokens was renamed to planner.maxOutputTokens',
    ]);
  });
});
