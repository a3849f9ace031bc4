// Prometheus metrics on prom-client's registries. A name can be registered only once per
// registry, and several nodes, providers and tests ask for the same metric, so the first
// registration is reused.
import { Counter, Gauge, Histogram, register, Registry } from 'prom-client';

export function sharedCounter<L extends string>(name: string, help: string, labelNames: L[], registry: Registry = register): Counter<L> {
  return (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter<L>({ name, help, labelNames, registers: [registry] });
}

export function sharedGauge<L extends string>(name: string, help: string, labelNames: L[], registry: Registry = register): Gauge<L> {
  return (registry.getSingleMetric(name) as Gauge<L> | undefined) ?? new Gauge<L>({ name, help, labelNames, registers: [registry] });
}

export function sharedHistogram<L extends string>(name: string, help: string, labelNames: L[], buckets: number[], registry: Registry = register): Histogram<L> {
  return (registry.getSingleMetric(name) as Histogram<L> | undefined) ?? new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
}
