import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import type { ImageQuery } from '../../schemas/generated/types';
import { TOPOLOGIES } from '../../topology/valor-topology';
import { topicByName } from '../../topology/topology';
import { imageQuery } from '../fixtures/records';
import { readTopic, runId, services, startCli, testKafka, testRegistry } from './services';

jest.setTimeout(600_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('crash safety on the real broker', () => {
  it('holds every input exactly once after repeated SIGKILLs of the pipeline', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const input = `it.${id}.in`;
    const topology = TOPOLOGIES.passthrough!({ topics: { imageQueries: input, deadLetters: `it.${id}.dl` }, partitions: 4 });
    const output = topology.nodes[0]!.outputs.out!;
    const cfgFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crash-')), 'config.json');
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        runtime: 'kafka',
        topology: 'passthrough',
        partitions: 4,
        topics: { imageQueries: input, deadLetters: `it.${id}.dl` },
        kafka: { brokers: [bootstrap] },
        registry: { url: registryUrl },
        // Short sessions so a killed member is evicted quickly; small chunks so kills land mid-stream.
        delivery: { groupPrefix: `g.${id}`, maxInFlight: 50, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 },
      }),
    );
    const kafka = testKafka();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(testRegistry(), (t) => topicByName(topology, t).type);

    const N = 5000;
    const producing = (async () => {
      const writer = new KafkaRecordWriter(kafka, serdes);
      for (let i = 0; i < N; i += 100) {
        await writer.write(
          input,
          Array.from({ length: 100 }, (_, j) => ({ key: `k${(i + j) % 97}`, value: imageQuery(i + j) })),
        );
        await sleep(300);
      }
      await writer.close();
    })();

    const start = (): ChildProcess => startCli(['run', '--config', cfgFile]);
    const kills: number[] = [];
    for (let k = 0; k < 6; k++) {
      const child = start();
      const wait = 2500 + Math.floor(Math.random() * 3500);
      await sleep(wait);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      kills.push(wait);
    }
    await producing;
    const final = start();
    const out = await readTopic(kafka, output, N, 240_000);
    final.kill('SIGTERM');
    const code = await new Promise((r) => final.once('exit', r));
    process.stderr.write(`crash test: killed after ${kills.join(', ')} ms; ${out.length} outputs; clean exit ${String(code)}\n`);

    const ids = await Promise.all(out.map(async (m) => (await serdes.for<ImageQuery>(output).decode(m.value)).id));
    const counts = new Map<string, number>();
    for (const x of ids) counts.set(x, (counts.get(x) ?? 0) + 1);
    const dups = [...counts].filter(([, n]) => n > 1);
    expect(dups).toEqual([]);
    expect(counts.size).toBe(N);
    expect(kills.length).toBeGreaterThanOrEqual(5);
    expect(code).toBe(0);
  });
});
