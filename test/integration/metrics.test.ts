// Metrics and health as an operator scrapes them: `run --runtime kafka --metrics-port 0` on the
// real broker. Scraped counts agree with what was produced (records in; dead letters by
// class), lag goes to 0 when caught up, /ready is 200; then, for the verify node, /ready turns
// 503 while its provider is down and 200 again after.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { startMetricsServer } from '../../runtime/metrics/metrics-server';
import { watchBreakers } from '../../runtime/metrics/readiness';
import { StreamMetrics } from '../../runtime/metrics/stream-metrics';
import { serdesFor } from '../../runtime/serde/topic-serde';
import { sharedProviders } from '../../models/llm/shared-providers';
import { silentLogger } from '../../core/logger';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../../evaluation/synthetic-proposals';
import { passthroughTopology, valorTopology } from '../../topology/valor-topology';
import { FakeOpenAIServer } from '../fakes/fake-openai-server';
import { VerifierOracle } from '../fakes/verifier-oracle';
import { imageQuery } from '../fixtures/records';
import { runId, services, testKafka, testRegistry, testTopicNames } from './services';

const BIN = path.join(__dirname, '..', '..', 'bin', 'valor-stream.js');

/** `name{labels} value` lines of a metric, summed over lines whose labels include `match`. */
function sum(text: string, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(match).some(([k, v]) => !line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('metrics and health on the broker', () => {
  it('run --metrics-port: records in = records produced, dead letters by class, lag to 0, ready', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-metrics-'));
    const input = `it.${id}.q`;
    const config = path.join(dir, 'c.json');
    fs.writeFileSync(
      config,
      JSON.stringify({ runtime: 'kafka', topology: 'passthrough', partitions: 2, topics: { imageQueries: input, deadLetters: `it.${id}.dl` } }),
    );
    const env = { ...process.env, KAFKA_BOOTSTRAP: bootstrap, SCHEMA_REGISTRY_URL: registryUrl, VALOR_LOG_LEVEL: 'warn' };
    const args = [BIN, 'run', '-c', config, '--group-prefix', `g.${id}`, '--metrics-port', '0', '--metrics-lag-ms', '500'];
    const child: ChildProcess = spawn('node', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    const kafka = testKafka();
    try {
      const base = await until('the metrics URL on stderr', async () => /metrics: (http:\/\/[^\s,]+)\/metrics/.exec(stderr)?.[1]);
      const scrape = async () => (await fetch(`${base}/metrics`)).text();
      await until('ready', async () => ((await fetch(`${base}/ready`)).status === 200 ? true : undefined));
      const topology = passthroughTopology({ input, output: `${input}-checked`, deadLetters: `it.${id}.dl`, partitions: 2 });
      const writer = new KafkaRecordWriter(kafka, serdesFor(topology, testRegistry()));
      const good = Array.from({ length: 40 }, (_, i) => imageQuery(i));
      const bad = Array.from({ length: 5 }, (_, i) => ({ ...imageQuery(100 + i), question: ' ' })); // fails checkImageQuery
      await writer.write(
        input,
        [...good, ...bad].map((v) => ({ key: v.id, value: v })),
      );
      await writer.close();
      const text = await until('45 records in and lag 0', async () => {
        const t = await scrape();
        const lagLines = t.split('\n').filter((l) => l.startsWith('valor_consumer_lag{'));
        return sum(t, 'valor_records_in_total', { node: 'passthrough' }) === 45 && lagLines.length > 0 && sum(t, 'valor_consumer_lag') === 0 ? t : undefined;
      });
      expect(sum(text, 'valor_records_out_total', { node: 'passthrough' })).toBe(40);
      expect(sum(text, 'valor_dead_letters_total', { node: 'passthrough', error_class: 'ValidationError' })).toBe(5);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/ready`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(child.exitCode).toBe(0);
  });

  it('/ready turns 503 while the verify node’s provider is down, and 200 after', async () => {
    const id = runId();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-ready-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 6, seed: 41 });
    const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
    const server = new FakeOpenAIServer({ oracle: oracle.answer });
    const baseURL = await server.start();
    process.env.VS_IT_READY_KEY = 'sk-it';
    const topics = testTopicNames(id);
    const topology = valorTopology({
      partitions: 2,
      topics,
      nodeConfig: {
        verify: {
          provider: { kind: 'openai-responses', baseURL, apiKeyEnv: 'VS_IT_READY_KEY' },
          limits: { timeoutMs: 5_000, maxAttempts: 2, backoff: { initialDelayMs: 10, maxDelayMs: 50 }, breaker: { failureThreshold: 2, cooldownMs: 1_000 } },
          images: { allowedRoots: [dir] },
        },
      },
    });
    const kafka = testKafka();
    const metrics = new StreamMetrics(new Registry(), { lagIntervalMs: 500 });
    const runtime = new KafkaRuntime(topology, {
      kafka,
      registry: testRegistry(),
      logger: silentLogger,
      only: ['verify'],
      metrics,
      storeTopicPrefix: `it.${id}.store.`,
      config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}`, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 }),
    });
    let http: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
    try {
      await runtime.start();
      watchBreakers(metrics.ready, sharedProviders(runtime.resources));
      http = await startMetricsServer({ registries: [metrics.registry], readiness: metrics.ready, port: 0 });
      const ready = async () => (await fetch(`${http!.url}/ready`)).status;
      await until('ready at start', async () => ((await ready()) === 200 ? true : undefined));
      server.faults.setDown(true);
      const writer = new KafkaRecordWriter(kafka, runtime.serdes);
      await writer.write(
        topics.detectorProposals,
        simulatedProposalRecords(corpus.groundTruthFile, { seed: 2 }).map((p) => ({ key: p.queryId, value: p })),
      );
      await writer.close();
      const body = await until('503 while the provider is down', async () => {
        const r = await fetch(`${http!.url}/ready`);
        return r.status === 503 ? ((await r.json()) as { failing: Array<{ condition: string }> }) : undefined;
      });
      expect(body.failing.map((f) => f.condition).join(' ')).toMatch(/breaker|flowing/);
      server.faults.setDown(false);
      await until('200 after recovery', async () => ((await ready()) === 200 ? true : undefined));
    } finally {
      await http?.close();
      await runtime.stop();
      await server.close();
      delete process.env.VS_IT_READY_KEY;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
