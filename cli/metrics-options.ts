// --metrics-port / --metrics-host / --metrics-lag-ms for every long-running command, and
// what they start: a StreamMetrics on a registry of its own, with Node's process metrics,
// served with prom-client's global registry (LLM providers, reward endpoint) on
// /metrics, /healthz and /ready. Without --metrics-port nothing is started or counted.
import type { Command } from 'commander';
import { collectDefaultMetrics, register as globalRegistry, Registry } from 'prom-client';
import { ConfigError } from '../core/errors';
import { MetricsServer } from '../runtime/metrics/metrics-server';
import { watchBreakers } from '../runtime/metrics/readiness';
import { DEFAULT_LAG_INTERVAL_MS, StreamMetrics } from '../runtime/metrics/stream-metrics';

/** The options `withMetricsOptions` adds, as commander parses them. */
export interface MetricsFlags {
  metricsPort?: string;
  metricsHost?: string;
  metricsLagMs?: string;
}

/** Adds the metrics options to a command. */
export function withMetricsOptions(c: Command): Command {
  return c
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /ready on this port (0: a free one, printed); off unless set')
    .option('--metrics-host <host>', 'address for the metrics port (expose it deliberately, e.g. 0.0.0.0)', '127.0.0.1')
    .option('--metrics-lag-ms <ms>', `how often consumer lag is refreshed from the broker (default ${DEFAULT_LAG_INTERVAL_MS})`);
}

export interface MetricsHandle {
  metrics: StreamMetrics;
  server: MetricsServer;
  /** e.g. http://127.0.0.1:9464 */
  url: string;
  /** The command is up (its runtime started): clears `process:started`. */
  started(): void;
  /** Reports each provider's breaker as a readiness condition (see watchBreakers). */
  watchBreakers(providers: Parameters<typeof watchBreakers>[1]): void;
  /** Not ready from now on (a drain before exit); then close(). */
  stopping(): void;
  /** Stops the lag poller, the breaker watches and the server. */
  close(): Promise<void>;
}

/**
 * Starts the metrics server when --metrics-port is set, else returns undefined (metrics off).
 * Prints where it listens on stderr (stdout may carry data, as `consume`'s does).
 */
export async function startMetrics(flags: MetricsFlags, opts: { command: string; print?: (line: string) => void }): Promise<MetricsHandle | undefined> {
  if (flags.metricsPort === undefined) return undefined;
  const port = integer('--metrics-port', flags.metricsPort, 0, 65_535);
  const lagIntervalMs = flags.metricsLagMs === undefined ? undefined : integer('--metrics-lag-ms', flags.metricsLagMs, 100, 3_600_000);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new StreamMetrics(registry, { lagIntervalMs });
  // Not ready until the command says its runtime has started.
  metrics.ready.set('process:started', false, `${opts.command} is starting`);
  const server = new MetricsServer({ registries: [registry, globalRegistry], readiness: metrics.ready, host: flags.metricsHost ?? '127.0.0.1', port });
  const url = await server.start();
  (opts.print ?? ((l) => process.stderr.write(`${l}\n`)))(`metrics: ${url}/metrics, health: ${url}/healthz, readiness: ${url}/ready`);
  const unwatch: Array<() => void> = [];
  return {
    metrics,
    server,
    url,
    started: () => metrics.ready.set('process:started', true),
    watchBreakers: (providers) => void unwatch.push(watchBreakers(metrics.ready, providers)),
    stopping: () => metrics.ready.set('process:started', false, `${opts.command} is stopping`),
    close: async () => {
      for (const u of unwatch.splice(0)) u();
      await metrics.close();
      await server.close();
    },
  };
}

function integer(flag: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) throw new ConfigError(`${flag} must be an integer from ${min} to ${max}, got '${raw}'`);
  return n;
}
