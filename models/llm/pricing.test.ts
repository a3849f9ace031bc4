import { costUsd, DEFAULT_PRICES, priceFor, priceTableSchema, withDefaultPrices } from './pricing';

describe('pricing', () => {
  it('prices the default models per million tokens', () => {
    expect(costUsd('gpt-5-mini', { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBeCloseTo(2.25);
    expect(costUsd('gemini-2.5-flash', { inputTokens: 2_000, outputTokens: 400 })).toBeCloseTo((2_000 * 0.3 + 400 * 2.5) / 1e6, 12);
  });

  it('costs 0 for a model the table does not know', () => {
    expect(priceFor('mystery-model')).toBeUndefined();
    expect(costUsd('mystery-model', { inputTokens: 1e6, outputTokens: 1e6 })).toBe(0);
  });

  it('finds dated snapshots and resource paths, but never a shorter alias of a different model', () => {
    expect(priceFor('gpt-5-mini-2025-08-07')).toEqual(DEFAULT_PRICES['gpt-5-mini']);
    expect(priceFor('gemini-2.5-flash-001')).toEqual(DEFAULT_PRICES['gemini-2.5-flash']);
    expect(priceFor('publishers/google/models/gemini-2.5-flash')).toEqual(DEFAULT_PRICES['gemini-2.5-flash']);
    const table = { 'gpt-5': { inputPerMTokUsd: 1.25, outputPerMTokUsd: 10 } };
    expect(priceFor('gpt-5-mini', table)).toBeUndefined();
    expect(priceFor('gpt-5-nano-2025-08-07', table)).toBeUndefined();
    expect(priceFor('toString', table)).toBeUndefined();
  });

  it('configured prices add to and override the defaults', () => {
    const table = withDefaultPrices(
      priceTableSchema.parse({ 'gpt-5-mini': { inputPerMTokUsd: 1, outputPerMTokUsd: 1 }, local: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 } }),
    );
    expect(costUsd('gpt-5-mini', { inputTokens: 1e6, outputTokens: 0 }, table)).toBe(1);
    expect(table['gemini-2.5-flash']).toEqual(DEFAULT_PRICES['gemini-2.5-flash']);
    expect(priceFor('local', table)).toBeDefined();
  });

  it('the schema names a bad entry', () => {
    const r = priceTableSchema.safeParse({ 'gpt-5-mini': { inputPerMTokUsd: -1, outputPerMTokUsd: 2 } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['gpt-5-mini', 'inputPerMTokUsd']);
    expect(priceTableSchema.safeParse({ x: { inputPerMTokUsd: 1, outputPerMTokUsd: 2, cached: 1 } }).success).toBe(false);
  });
});

describe('cached input and billed tiers', () => {
  const table = withDefaultPrices();
  it('prices cached input at the cached rate and the whole call by tier', () => {
    // gpt-5-mini: $0.25 in, $0.025 cached, $2 out per million; flex and batch half price.
    const usage = { inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 100_000 };
    const listPrice = 0.6 * 0.25 + 0.4 * 0.025 + 0.1 * 2;
    expect(costUsd('gpt-5-mini', usage, table)).toBeCloseTo(listPrice, 12);
    expect(costUsd('gpt-5-mini', usage, table, 'flex')).toBeCloseTo(listPrice / 2, 12);
    expect(costUsd('gpt-5-mini', usage, table, 'batch')).toBeCloseTo(listPrice / 2, 12);
    expect(costUsd('gpt-5-mini', { inputTokens: 1_000_000, outputTokens: 0 }, table)).toBeCloseTo(0.25, 12);
  });
  it('assumes no discount where a configured price gives none, and never more cached than input', () => {
    const mine = withDefaultPrices({ 'my-vlm': { inputPerMTokUsd: 1, outputPerMTokUsd: 1 } });
    expect(costUsd('my-vlm', { inputTokens: 1_000_000, cachedInputTokens: 500_000, outputTokens: 0 }, mine, 'flex')).toBeCloseTo(1, 12);
    expect(costUsd('gpt-5-mini', { inputTokens: 10, cachedInputTokens: 50, outputTokens: 0 }, table)).toBeCloseTo((10 * 0.025) / 1e6, 15);
  });
});
