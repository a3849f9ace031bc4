import { Command } from 'commander';
import * as http from 'node:http';
import type { Kafka } from 'kafkajs';
import { PassThrough } from 'node:stream';
import { Counter, register as globalRegistry } from 'prom-client';
import { BehaviorSubject } from 'rxjs';
import { silentLogger } from '../core/logger';
import type { Batch } from '../connectors/online/training-consumer';
import { MemoryRegistry } from '../runtime/registry/memory-registry';
import type { NodeMetrics } from '../runtime/metrics/stream-metrics';
import { registerConsumeCommand } from './commands/consume';
import { loadConfig } from './config';
import { buildProgram } from './main';
import { startMetrics, withMetricsOptions } from './metrics-options';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

describe('--metrics-port and friends', () => {
  it('is on every long-running command', () => {
    const program = buildProgram();
    const find = (path: string[]) => path.reduce<Command>((c, name) => c.commands.find((x) => x.name() === name)!, program);
    for (const path of [['run'], ['sink', 'odvg'], ['sink', 'rewards'], ['consume'], ['serve-rewards']]) {
      const flags = find(path).options.map((o) => o.long);
      expect({ path, flags }).toEqual({ path, flags: expect.arrayContaining(['--metrics-port', '--metrics-host', '--metrics-lag-ms']) });
    }
  });

  it('starts nothing without --metrics-port, and names a bad value', async () => {
    const opts = withMetricsOptions(new Command('x')).parse([], { from: 'user' }).opts();
    expect(opts.metricsHost).toBe('127.0.0.1');
    expect(await startMetrics(opts, { command: 'x' })).toBeUndefined();
    await expect(startMetrics({ metricsPort: 'http' }, { command: 'x' })).rejects.toThrow("--metrics-port must be an integer from 0 to 65535, got 'http'");
    await expect(startMetrics({ metricsPort: '0', metricsLagMs: '5' }, { command: 'x' })).rejects.toThrow(/--metrics-lag-ms must be an integer from 100/);
  });

  it('serves the stream, process and global metrics, and readiness from starting to stopping', async () => {
    const lines: string[] = [];
    const global = new Counter({ name: 'valor_test_global_total', help: 'on the global registry, like the providers' });
    const m = (await startMetrics({ metricsPort: '0', metricsHost: '127.0.0.1', metricsLagMs: '500' }, { command: 'run', print: (l) => lines.push(l) }))!;
    try {
      expect(lines).toEqual([`metrics: ${m.url}/metrics, health: ${m.url}/healthz, readiness: ${m.url}/ready`]);
      expect(m.metrics.lagIntervalMs).toBe(500);
      m.metrics.node('plan').committed(0, { processed: 3, emitted: 2 });
      global.inc();
      const text = (await get(`${m.url}/metrics`)).body;
      expect(text).toContain('# HELP valor_records_in_total');
      expect(text).toContain('valor_records_in_total{node="plan",partition="0"} 3');
      expect(text).toContain('# TYPE valor_consumer_lag gauge');
      expect(text).toContain('valor_test_global_total 1');
      expect(text).toContain('process_cpu_user_seconds_total');

      expect(await get(`${m.url}/healthz`)).toMatchObject({ status: 200 });
      const starting = await get(`${m.url}/ready`);
      expect(starting.status).toBe(503);
      expect(JSON.parse(starting.body).failing).toEqual([expect.objectContaining({ condition: 'process:started', reason: 'run is starting' })]);
      m.started();
      expect((await get(`${m.url}/ready`)).status).toBe(200);
      const breaker = new BehaviorSubject('open');
      m.watchBreakers([{ kind: 'openai-chat', model: 'gpt-4.1-mini', state$: breaker }]);
      expect(JSON.parse((await get(`${m.url}/ready`)).body).failing).toEqual([
        expect.objectContaining({ condition: 'provider:openai-chat/gpt-4.1-mini:breaker', reason: 'circuit breaker open' }),
      ]);
      breaker.next('closed');
      m.stopping();
      expect(JSON.parse((await get(`${m.url}/ready`)).body).failing).toEqual([
        expect.objectContaining({ condition: 'process:started', reason: 'run is stopping' }),
      ]);
    } finally {
      await m.close();
      globalRegistry.removeSingleMetric('valor_test_global_total');
    }
    await expect(get(`${m.url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('`consume --metrics-port 0` serves /metrics while it runs, counts its batches, and closes the port when done', async () => {
    const printed: string[] = [];
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => (printed.push(String(chunk)), true));
    const admin = { connect: async () => undefined, disconnect: async () => undefined };
    const scraped: Array<{ status: number; body: string }> = [];
    let given: NodeMetrics | undefined;
    const batch = (seq: number, partition: number): Batch<unknown> => ({
      seq,
      records: [{ value: { accepted: [seq] }, topic: 't', partition, offset: String(seq), key: null, timestamp: '0' }],
      ack: async () => undefined,
    });
    async function* batches(): AsyncGenerator<Batch<unknown>> {
      yield batch(1, 0);
      yield batch(2, 1);
      // Both batches are written and acked by now: look at the port the command printed.
      const url = printed.join('').match(/metrics: (http:\/\/[^/\s]+)\/metrics/)![1]!;
      scraped.push(await get(`${url}/metrics`), await get(`${url}/ready`));
    }
    const program = new Command('valor-stream').exitOverride();
    registerConsumeCommand(program, {
      configFrom: () => loadConfig({ env: {} }),
      registryFrom: () => new MemoryRegistry(),
      kafkaFrom: () => ({ admin: () => admin }) as unknown as Kafka,
      preflight: async () => undefined,
      consumerFrom: (_o, metrics) => ((given = metrics), { batches, close: async () => undefined }),
      stdout: new PassThrough(),
      logger: silentLogger,
      handleSignals: false,
    });
    try {
      await program.parseAsync(['consume', '--topic', 'valor.pseudo-labels', '--metrics-port', '0'], { from: 'user' });
    } finally {
      stderr.mockRestore();
    }
    expect(given?.node).toBe('consume');
    const [metrics, ready] = scraped;
    expect(metrics!.status).toBe(200);
    expect(metrics!.body).toContain('valor_records_in_total{node="consume",partition="0"} 1');
    expect(metrics!.body).toContain('valor_records_in_total{node="consume",partition="1"} 1');
    expect(metrics!.body).toContain('valor_records_out_total{node="consume"} 2');
    expect(ready).toMatchObject({ status: 200 });
    const url = printed.join('').match(/metrics: (http:\/\/[^/\s]+)\/metrics/)![1]!;
    await expect(get(`${url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
