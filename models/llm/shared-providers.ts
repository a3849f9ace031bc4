// One ResilientProvider per distinct provider+limits config in a runtime's resources, so
// every node and stage that uses the same API shares its concurrency limit, rate buckets
// and breaker, as the provider's own quota is shared. The runtime closes them when it stops.
import type { Logger } from '../../core/logger';
import { resourceKind, Resources } from '../../core/resources';
import { createProvider, ProviderConfigInput } from './create-provider';
import type { PriceTable } from './pricing';
import { ProviderTotals, ResilienceConfigInput, ResilientProvider } from './resilient-provider';

const LLM_PROVIDERS = resourceKind<ResilientProvider>('llm-provider', (p) => p.close());

export function sharedProvider(
  resources: Resources,
  provider: ProviderConfigInput,
  limits: ResilienceConfigInput = {},
  prices?: PriceTable,
  logger?: Logger,
): ResilientProvider {
  const key = JSON.stringify([provider, limits, prices ?? null]);
  return resources.get(LLM_PROVIDERS, key, () => new ResilientProvider(createProvider(provider), limits, { prices, logger }));
}

/** The providers in `resources`, in creation order. */
export function sharedProviders(resources: Resources): ResilientProvider[] {
  return resources.list(LLM_PROVIDERS);
}

/** Running totals of every provider in `resources` (for progress logs and run summaries). */
export function providerTotals(resources: Resources): ProviderTotals[] {
  return sharedProviders(resources).map((p) => p.totals());
}
