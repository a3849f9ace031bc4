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
