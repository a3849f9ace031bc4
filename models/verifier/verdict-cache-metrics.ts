// Verdict-cache lookups as a Prometheus counter (prom-client's global registry, served with
// the provider metrics by every --metrics-port): the hit rate is what a replay costs, and a
// prompt or model change shows as misses.
import { sharedCounter } from '../../core/metrics';

const lookups = sharedCounter(
  'valor_verdict_cache_lookups_total',
  'Verdict-cache lookups of the verifier by stage: hit (no call) or miss (asked the provider)',
  ['provider', 'model', 'stage', 'result'],
);

export function countCacheLookup(provider: string, model: string, stage: string, hit: boolean): void {
  lookups.inc({ provider, model, stage, result: hit ? 'hit' : 'miss' });
}
