// One ResilientProvider per distinct provider+limits config in a process, so every node and
// stage that uses the same API shares its concurrency limit, rate buckets and breaker, as
// the provider's own quota is shared.
import type { Logger } from '../../core/logger';
import { createProvider, ProviderConfigInput } from './create-provider';
import type { PriceTable } from './pricing';
import { ProviderTotals, ResilienceConfigInput, ResilientProvider } from './resilient-provider';

const shared = new Map<string, ResilientProvider>();

export function sharedProvider(provider: ProviderConfigInput, limits: ResilienceConfigInput = {}, prices?: PriceTable, logger?: Logger): ResilientProvider {
  const key = JSON.stringify([provider, limits, prices ?? null]);
  let p = shared.get(key);
  if (!p) {
    p = new ResilientProvider(createProvider(provider), limits, { prices, logger });
    shared.set(key, p);
  }
  return p;
}

/** Running totals of every provider used in this process (for progress logs). */
export function sharedProviderTotals(): ProviderTotals[] {
  return [...shared.values()].map((p) => p.totals());
}

/** Forgets the shared providers (tests that reconfigure the same endpoint). */
export function resetSharedProviders(): void {
  shared.clear();
}
