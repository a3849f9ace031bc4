// Verdict-cache lookups as a Prometheus counter (prom-client's global registry, served with
// the provider metrics by every --metrics-port): the hit rate is what a replay costs, and a
// prompt or model change shows as misses.
import { Counter, register } from 'prom-client';

const NAME = 'valor_verdict_cache_lookups_total';

// Several verifiers (and tests) share the registry; prom-client refuses a second registration.
const lookups =
  (register.getSingleMetric(NAME) as Counter<'provider' | 'model' | 'stage' | 'result'> | undefined) ??
  new Counter({
    name: NAME,
    help: 'Verdict-cache lookups of the verifier by stage: hit (no call) or miss (asked the provider)',
    labelNames: ['provider', 'model', 'stage', 'result'],
  });

export function countCacheLookup(provider: string, model: string, stage: string, hit: boolean): void {
  lookups.inc({ provider, model, stage, result: hit ? 'hit' : 'miss' });
}
