// The config of a node that calls a model (plan's planner, verify, reward), with the same
// field names in every node: `provider` (which API and model, see create-provider.ts),
// `limits` (concurrency, RPM/TPM buckets, timeout, retries, circuit breaker), `prices` and
// `maxOutputTokens`. nodeProvider() turns it into the runtime's shared ResilientProvider, so
// every such node gets the same limits, retries, breaker, cost accounting and metrics.
import { z } from 'zod';
import type { Logger } from '../../core/logger';
import type { Resources } from '../../core/resources';
import { providerConfig, ProviderConfig } from './create-provider';
import { PriceTable, priceTableSchema } from './pricing';
import { ResilienceConfig, resilienceConfig, ResilientProvider } from './resilient-provider';
import { sharedProvider } from './shared-providers';

/** A node's default provider: its kind, and defaults for other fields of that kind. */
export type ProviderDefaults = { kind: ProviderConfig['kind'] } & Record<string, unknown>;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `providerConfig` defaulting to `defaults` when absent. A given provider of the default
 * kind takes the defaults it leaves out (the planner's model); `kind` itself is never
 * guessed, so a provider given without one is refused as before.
 */
export function providerWithDefaults(defaults: ProviderDefaults) {
  return z.preprocess((v) => (isRecord(v) && v.kind === defaults.kind ? { ...defaults, ...v } : v), providerConfig).prefault(defaults);
}

/** The output cap of one call; unset leaves it to the provider config or the API. */
export const maxOutputTokensSchema = z.number().int().min(16);

/** The fields every node that calls a model has, for `z.object({...llmNodeShape(d), ...})`. */
export function llmNodeShape(defaults: { provider: ProviderDefaults }) {
  return {
    /** Which API and model: any kind of the provider layer (see create-provider.ts). */
    provider: providerWithDefaults(defaults.provider),
    /** Concurrency, RPM/TPM buckets, timeout, retries and circuit breaker, per provider and process. */
    limits: resilienceConfig.prefault({}),
    /** USD per million tokens by model, on top of the defaults. */
    prices: priceTableSchema.optional(),
    maxOutputTokens: maxOutputTokensSchema.optional(),
  };
}

/** The shared fragment as a strict object; a node adds its own fields with `.extend()`. */
export function llmNodeConfig(defaults: { provider: ProviderDefaults }) {
  return z.object(llmNodeShape(defaults)).strict();
}

/** The parsed fragment, whatever node it belongs to. */
export interface LlmNodeConfig {
  provider: ProviderConfig;
  limits: ResilienceConfig;
  prices?: PriceTable;
  maxOutputTokens?: number;
}

/**
 * Fields of an older config shape: refused with the name that replaced them, e.g.
 * `renamedFields({ judge: 'provider' })` fails `{judge: ...}` with "judge was renamed to
 * provider". `where` prefixes both names (e.g. 'planner.'), so the message reads alone.
 * Typed as `undefined`, so TypeScript flags old names in config literals too.
 */
export function renamedFields<K extends string>(renames: Record<K, string>, where = ''): Record<K, z.ZodOptional<z.ZodNever>> {
  const shape = {} as Record<K, z.ZodOptional<z.ZodNever>>;
  for (const old of Object.keys(renames) as K[]) {
    shape[old] = z.never({ error: `${where}${old} was renamed to ${where}${renames[old]}` }).optional();
  }
  return shape;
}

/** The node's provider: one ResilientProvider per distinct provider/limits/prices in `resources` (the runtime's). */
export function nodeProvider(resources: Resources, config: LlmNodeConfig, logger?: Logger): ResilientProvider {
  return sharedProvider(resources, config.provider, config.limits, config.prices, logger);
}
