import { resilienceConfig } from './resilience-config';

describe('resilienceConfig', () => {
  it('has the documented defaults', () => {
    expect(resilienceConfig.parse({})).toEqual({
      concurrency: 32,
      timeoutMs: 60_000,
      maxAttempts: 8,
      defaultOutputTokens: 1024,
      backoff: { initialDelayMs: 500, maxDelayMs: 30_000, multiplier: 2, jitter: 0.2 },
      breaker: { failureThreshold: 5, cooldownMs: 30_000, maxCooldownMs: 300_000 },
    });
  });

  it('names a bad or unknown field', () => {
    const bad = resilienceConfig.safeParse({ breaker: { cooldownMs: 10_000, maxCooldownMs: 5_000 } });
    expect(bad.error!.issues[0]).toMatchObject({ path: ['breaker', 'maxCooldownMs'], message: 'breaker.maxCooldownMs must be >= breaker.cooldownMs' });
    expect(resilienceConfig.safeParse({ rpm: 10 }).success).toBe(false);
    expect(resilienceConfig.safeParse({ requestsPerMinute: 0 }).success).toBe(false);
  });
});
