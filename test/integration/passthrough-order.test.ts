import { ImageQuery } from '../../schemas/generated/types';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { silentLogger } from '../../core/logger';
import { passthroughTopology } from '../../topology/valor-topology';
import { topicByName } from '../../topology/topology';
import { imageQuery } from '../fixtures/records';
import { readTopic, runId, testKafka, testRegistry } from './services';

jest.setTimeout(300_000);

describe.each(['exactly-once', 'at-least-once'] as const)('pass-through on the real broker (%s)', (delivery) => {
  it('delivers 10,000 events with per-key order kept', async () => {
    const id = runId();
    const topology = passthroughTopology({ input: `it.${id}.in`, output: `it.${id}.out`, deadLetters: `it.${id}.dl`, partitions: 4 });
    const kafka = testKafka();
    const registry = testRegistry();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(registry, (t) => topicByName(topology, t).type);
    const writer = new KafkaRecordWriter(kafka, serdes);
    const N = 10_000;
    const KEYS = 50;
    for (let i = 0; i < N; i += 1000) {
      await writer.write(
        topology.nodes[0]!.input,
        Array.from({ length: 1000 }, (_, j) => ({ key: `key-${(i + j) % KEYS}`, value: imageQuery(i + j) })),
      );
    }
    await writer.close();

    const runtime = new KafkaRuntime(topology, {
      kafka,
      registry,
      logger: silentLogger,
      config: kafkaRuntimeSchema.parse({ delivery, groupPrefix: `g.${id}`, maxInFlight: 500 }),
    });
    await runtime.start();
    const out = await readTopic(kafka, `it.${id}.out`, N);
    await runtime.stop();

    expect(out).toHaveLength(N);
    const decoded = await Promise.all(
      out.map(async (m) => ({ key: m.key, partition: m.partition, v: await serdes.for<ImageQuery>(`it.${id}.out`).decode(m.value) })),
    );
    expect(new Set(decoded.map((d) => d.v.id)).size).toBe(N);
    for (let k = 0; k < KEYS; k++) {
      const seq = decoded.filter((d) => d.key === `key-${k}`).map((d) => Number(d.v.metadata.seq));
      expect(seq).toHaveLength(N / KEYS);
      expect(seq).toEqual([...seq].sort((a, b) => a - b));
    }
    expect(runtime.runners[0]!.stats.processed).toBe(N);
  });
});
