// What a call cost, from the token usage the API reports and a price table in USD per
// million tokens. The table is configuration (prices change); the defaults cover the
// models the topology uses out of the box.
import { z } from 'zod';
import type { BilledTier, TokenUsage } from './provider';

export const modelPriceSchema = z
  .object({
    inputPerMTokUsd: z.number().min(0),
    /** Input read from the prompt cache; absent: no discount assumed. */
    cachedInputPerMTokUsd: z.number().min(0).optional(),
    outputPerMTokUsd: z.number().min(0),
    /** Multipliers on the whole call by billed tier (flex and Batch are half price at OpenAI and Vertex). */
    tiers: z
      .object({ flex: z.number().min(0).max(1).optional(), batch: z.number().min(0).max(1).optional() })
      .strict()
      .optional(),
  })
  .strict();
export type ModelPrice = z.infer<typeof modelPriceSchema>;

/** Model name -> price. Keys are the model names asked for (e.g. 'gpt-5-mini'). */
export const priceTableSchema = z.record(z.string().min(1), modelPriceSchema);
export type PriceTable = z.infer<typeof priceTableSchema>;

/** Standard (non-batch, non-cached) list prices. */
export const DEFAULT_PRICES: Readonly<PriceTable> = Object.freeze({
  'gpt-5-mini': { inputPerMTokUsd: 0.25, cachedInputPerMTokUsd: 0.025, outputPerMTokUsd: 2.0, tiers: { flex: 0.5, batch: 0.5 } },
  'gemini-2.5-flash': { inputPerMTokUsd: 0.3, cachedInputPerMTokUsd: 0.03, outputPerMTokUsd: 2.5, tiers: { batch: 0.5 } },
});

/** The defaults with the configured entries on top (configured prices win). */
export function withDefaultPrices(table?: PriceTable): PriceTable {
  return { ...DEFAULT_PRICES, ...(table ?? {}) };
}

// A dated or numbered snapshot of an alias: gpt-5-mini-2025-08-07, gemini-2.5-flash-001.
// Only these suffixes fall back to the alias's price, so 'gpt-5-mini' never gets the
// price of 'gpt-5'.
const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{3,})$/;

/**
 * The price of `model`: an exact key, else the last segment of a resource path
 * ('publishers/google/models/gemini-2.5-flash'), else the alias of a dated snapshot.
 * Undefined when the table has none of these.
 */
export function priceFor(model: string, table: PriceTable = DEFAULT_PRICES): ModelPrice | undefined {
  const own = (k: string) => (Object.prototype.hasOwnProperty.call(table, k) ? table[k] : undefined);
  const exact = own(model);
  if (exact) return exact;
  const name = model.slice(model.lastIndexOf('/') + 1);
  const bare = own(name);
  if (bare) return bare;
  for (const key of Object.keys(table)) {
    if (name.startsWith(key) && SNAPSHOT_SUFFIX.test(name.slice(key.length))) return table[key];
  }
  return undefined;
}

/**
 * USD for one call's usage at the tier it was billed at; 0 for a model the table does not
 * price. Cached input is priced at the cached rate; a tier without a multiplier is list price.
 */
export function costUsd(model: string, usage: TokenUsage, table: PriceTable = DEFAULT_PRICES, tier: BilledTier = 'default'): number {
  const price = priceFor(model, table);
  if (!price) return 0;
  const cached = Math.min(Math.max(0, usage.cachedInputTokens ?? 0), usage.inputTokens);
  const input = (usage.inputTokens - cached) * price.inputPerMTokUsd + cached * (price.cachedInputPerMTokUsd ?? price.inputPerMTokUsd);
  const multiplier = tier === 'default' ? 1 : (price.tiers?.[tier] ?? 1);
  return ((input + usage.outputTokens * price.outputPerMTokUsd) * multiplier) / 1_000_000;
}
