// The stream metrics as a run records them: the embedded runtime over a small topology,
// the node worker's pauses, and the file sink's shards.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/logger';
import { runEmbeddedSink } from '../../connectors/sinks/embedded-sink';
import { LocalFileStorage } from '../../connectors/sinks/shard-storage';
import { lookupProcessor } from '../../processors';
import type { ImageQuery } from '../../schemas/generated/types';
import { imageQuery } from '../../test/fixtures/records';
import { TopologyTestDriver } from '../../test/harness/topology-test-driver';
import { passthroughTopology } from '../../topology/valor-topology';
import { EmbeddedRuntime } from '../embedded/embedded-runtime';
import { NodeWorker, SimpleFlowControl } from '../node-worker';
import { MemoryRegistry } from '../registry/memory-registry';
import { SerdeSet } from '../serde/topic-serde';
import { StreamMetrics } from './stream-metrics';

type Name = keyof StreamMetrics['defs'];

/** Every series of a metric as `label=value,...` -> value (histograms: only _count and _sum). */
async function series(metrics: StreamMetrics, name: Name): Promise<Record<string, number>> {
  const { values } = await metrics.defs[name].get();
  const out: Record<string, number> = {};
  for (const v of values) {
    const suffix = (v as { metricName?: string }).metricName?.replace(/^valor_\w+?_(count|sum|bucket)$/, '$1');
    if (suffix === 'bucket') continue;
    const labels = Object.entries(v.labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => `${k}=${x}`)
      .join(',');
    out[suffix && suffix !== (v as { metricName?: string }).metricName ? `${suffix} ${labels}` : labels] = v.value;
  }
  return out;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

describe('stream metrics of an embedded run', () => {
  it('counts records in as produced, records out, dead letters by error class, and observes chunk latency', async () => {
    const metrics = new StreamMetrics(new Registry());
    const driver = new TopologyTestDriver(passthroughTopology({ partitions: 2 }), { chunkSize: 4, metrics });
    await driver.pipe(
      'valor.image-queries',
      Array.from({ length: 20 }, (_, i) => imageQuery(i)),
    );
    await driver.pipeRaw('valor.image-queries', 'bad-1', Buffer.from('not avro'));
    await driver.pipeRaw('valor.image-queries', 'bad-2', Buffer.from('nor this'));
    await driver.pipe('valor.image-queries', [imageQuery(99, { question: '  ' })]);

    const produced = [0, 1].map((p) => driver.log.read('valor.image-queries', p, 0, 1_000).length);
    const inByPartition = await series(metrics, 'recordsIn');
    expect(inByPartition).toEqual({ 'node=passthrough,partition=0': produced[0], 'node=passthrough,partition=1': produced[1] });
    expect(sum(inByPartition)).toBe(23);
    expect(await series(metrics, 'recordsOut')).toEqual({ 'node=passthrough': (await driver.readAll('valor.image-queries-checked')).length });
    expect(await series(metrics, 'recordsOut')).toEqual({ 'node=passthrough': 20 });
    const dls = await driver.deadLetters();
    expect(await series(metrics, 'deadLetters')).toEqual({
      'error_class=DecodeError,node=passthrough': dls.filter((d) => d.errorClass === 'DecodeError').length,
      'error_class=ValidationError,node=passthrough': 1,
    });
    expect(sum(await series(metrics, 'deadLetters'))).toBe(3);

    const latency = await series(metrics, 'processLatency');
    const chunks = latency['count node=passthrough']!;
    expect(chunks).toBeGreaterThanOrEqual(Math.ceil(produced[0]! / 4) + Math.ceil(produced[1]! / 4));
    expect(latency['sum node=passthrough']).toBeGreaterThan(0);
    const sizes = await series(metrics, 'chunkRecords');
    expect(sizes).toEqual({ 'count node=passthrough': chunks, 'sum node=passthrough': 23 });
    // The embedded runtime owns every partition; it never aborts, rebalances or polls lag.
    expect(metrics.ready.check()).toMatchObject({ ready: true });
    expect(metrics.ready.get('node:passthrough:assigned')).toMatchObject({ ok: true, reason: 'embedded: every partition' });
    expect(await series(metrics, 'aborts')).toEqual({});
    await driver.close();
  });

  it('records nothing and keeps no metrics object when none is given', async () => {
    const driver = new TopologyTestDriver(passthroughTopology({ partitions: 1 }));
    await driver.pipe('valor.image-queries', [imageQuery(1)]);
    await driver.runtime.start();
    expect((driver.runtime as unknown as { workers: NodeWorker[] }).workers.every((w) => w.metrics === undefined)).toBe(true);
    await driver.close();
  });

  it("reports a node's pause with its reason as valor_paused and as a false readiness condition, until it resumes", async () => {
    const metrics = new StreamMetrics(new Registry());
    const topology = passthroughTopology({ partitions: 1 });
    const flow = new SimpleFlowControl();
    const serdes = new SerdeSet(new MemoryRegistry(), (t) => topology.topics.find((x) => x.name === t)!.type);
    const worker = new NodeWorker(topology, topology.nodes[0]!, lookupProcessor('passthrough')!, {}, serdes, {
      logger: silentLogger,
      flow,
      metrics: metrics.node('passthrough'),
    });
    expect(metrics.ready.get('node:passthrough:flowing')).toMatchObject({ ok: true });
    flow.pause('daily budget spent');
    expect(await series(metrics, 'paused')).toEqual({ 'node=passthrough,reason=daily budget spent': 1 });
    expect(metrics.ready.check().failing).toEqual([expect.objectContaining({ name: 'node:passthrough:flowing', reason: 'paused: daily budget spent' })]);
    flow.resume();
    expect(await series(metrics, 'paused')).toEqual({ 'node=passthrough,reason=daily budget spent': 0 });
    expect(metrics.ready.ready).toBe(true);
    await worker.close();
    flow.pause('after close');
    expect(metrics.ready.ready).toBe(true); // the closed worker no longer listens
  });

  it('two StreamMetrics on one registry share its series instead of failing to register', () => {
    const registry = new Registry();
    const a = new StreamMetrics(registry);
    const b = new StreamMetrics(registry);
    expect(b.defs.recordsIn).toBe(a.defs.recordsIn);
    expect(a.node('x')).toBe(a.node('x'));
  });
});

describe('stream metrics of the embedded file sink', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-metrics-sink-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('counts the records it reads, its dead letters, and the shards, lines and bytes it publishes', async () => {
    const metrics = new StreamMetrics(new Registry());
    const runtime = new EmbeddedRuntime(passthroughTopology({ partitions: 2 }), { only: [] });
    await runtime.produce(
      'valor.image-queries',
      Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: imageQuery(i) })),
    );
    const storage = new LocalFileStorage(dir);
    const format = {
      name: 'ids',
      format: async (v: ImageQuery) => {
        if (v.id.endsWith('7')) throw new Error('seven is not allowed');
        return { line: JSON.stringify({ id: v.id }) };
      },
    };
    const totals = await runEmbeddedSink({
      runtime,
      topic: 'valor.image-queries',
      storage,
      shardDir: 'shards',
      format,
      rotation: { maxRecords: 4 },
      logger: silentLogger,
      metrics,
    });
    const files = fs.readdirSync(path.join(dir, 'shards')).filter((f) => f.endsWith('.jsonl'));
    const bytes = files.reduce((n, f) => n + fs.statSync(path.join(dir, 'shards', f)).size, 0);
    const lines = files.reduce(
      (n, f) =>
        n +
        fs
          .readFileSync(path.join(dir, 'shards', f), 'utf8')
          .split('\n')
          .filter(Boolean).length,
      0,
    );
    const labels = 'node=sink.ids,topic=valor.image-queries';
    expect(totals).toMatchObject({ written: 11, deadLettered: 1, shards: files.length });
    expect(await series(metrics, 'sinkShards')).toEqual({ [labels]: files.length });
    expect(await series(metrics, 'sinkRecords')).toEqual({ [labels]: lines });
    expect(lines).toBe(11);
    expect(await series(metrics, 'sinkBytes')).toEqual({ [labels]: bytes });
    expect(sum(await series(metrics, 'recordsIn'))).toBe(12);
    expect(await series(metrics, 'deadLetters')).toEqual({ 'error_class=Error,node=sink.ids': 1 });
    await runtime.close();
  });
});
