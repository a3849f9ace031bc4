// Events/s of ~1 KB Avro records through one pass-through node on the local broker,
// exactly-once and at-least-once, next to a raw kafkajs consume-and-produce loop measured
// in the same run on the same input. Prints `name: value unit` lines.
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { ensureTopics } from '../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../runtime/kafka/kafka-runtime';
import { ConfluentRegistry } from '../runtime/registry/confluent-registry';
import { SerdeSet } from '../runtime/serde/topic-serde';
import { lineageOf } from '../core/lineage';
import { silentLogger } from '../core/logger';
import type { ImageQuery } from '../schemas/generated/types';
import { passthroughTopology } from '../topology/valor-topology';
import { topicByName } from '../topology/topology';

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const PARTITIONS = 4;
const bootstrap = process.env.KAFKA_BOOTSTRAP ?? '127.0.0.1:39092';
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:38081/apis/ccompat/v7';

function record(i: number, pad: number): ImageQuery {
  return {
    id: `b-${i}`,
    corpus: 'bench',
    image: { uri: `/data/${i}.png`, bytes: null, sha256: null, width: 640, height: 480, mediaType: 'image/png' },
    question: 'Is the red circle left of the blue square? ' + 'x'.repeat(pad),
    phrases: ['red circle', 'blue square'],
    program: null,
    metadata: {},
    createdAt: i,
    lineage: lineageOf('bench', [], {}),
  };
}

async function timeUntil(done: () => boolean, started: () => boolean): Promise<number> {
  while (!started()) await new Promise((r) => setTimeout(r, 5));
  const t0 = process.hrtime.bigint();
  while (!done()) await new Promise((r) => setTimeout(r, 5));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main(): Promise<void> {
  const run = Date.now().toString(36);
  const input = `bench.${run}.in`;
  const kafka = new Kafka({ clientId: 'bench', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const registry = new ConfluentRegistry(registryUrl);
  const topo = (mode: string) => passthroughTopology({ input, output: `bench.${run}.out-${mode}`, deadLetters: `bench.${run}.dl`, partitions: PARTITIONS });
  for (const m of ['raw', 'eos', 'alos']) await ensureTopics(kafka, topo(m));
  const serdes = new SerdeSet(registry, (t) => topicByName(topo('eos'), t).type);

  // Pad the question so one encoded value is ~1 KB.
  const probe = (await serdes.for(input).encode(record(0, 0))).length;
  const pad = Math.max(0, 1024 - probe);
  const size = (await serdes.for(input).encode(record(0, pad))).length;
  const writer = new KafkaRecordWriter(kafka, serdes);
  for (let i = 0; i < N; i += 1000) {
    await writer.write(
      input,
      Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ key: `k${(i + j) % 256}`, value: record(i + j, pad) })),
    );
  }
  await writer.close();
  console.log(`passthrough_record_size: ${size} bytes`);
  console.log(`passthrough_events: ${N} events`);

  // Raw kafkajs: consume a batch, produce the same bytes, commit offsets. No decoding.
  {
    const consumer = kafka.consumer({ groupId: `bench.${run}.raw` });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await Promise.all([consumer.connect(), producer.connect()]);
    await consumer.subscribe({ topic: input, fromBeginning: true });
    let n = 0;
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: PARTITIONS,
      eachBatch: async ({ batch, resolveOffset }) => {
        await producer.send({ topic: `bench.${run}.out-raw`, acks: -1, messages: batch.messages.map((m) => ({ key: m.key, value: m.value })) });
        const last = batch.messages[batch.messages.length - 1]!.offset;
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
        resolveOffset(last);
        n += batch.messages.length;
      },
    });
    const secs = await timeUntil(
      () => n >= N,
      () => n > 0,
    );
    await consumer.disconnect();
    await producer.disconnect();
    console.log(`passthrough_raw_kafkajs: ${(N / secs).toFixed(0)} events/s`);
    (globalThis as { raw?: number }).raw = N / secs;
  }

  for (const [mode, delivery] of [
    ['eos', 'exactly-once'],
    ['alos', 'at-least-once'],
  ] as const) {
    const runtime = new KafkaRuntime(topo(mode), {
      kafka,
      registry,
      logger: silentLogger,
      config: kafkaRuntimeSchema.parse({ delivery, groupPrefix: `bench.${run}.${mode}`, maxInFlight: 1000, partitionsConsumedConcurrently: PARTITIONS }),
    });
    await runtime.start();
    const stats = runtime.runners[0]!.stats;
    const secs = await timeUntil(
      () => stats.processed >= N,
      () => stats.processed > 0,
    );
    await runtime.stop();
    const rate = N / secs;
    const raw = (globalThis as { raw?: number }).raw!;
    const name = delivery === 'exactly-once' ? 'exactly_once' : 'at_least_once';
    console.log(`passthrough_${name}: ${rate.toFixed(0)} events/s`);
    console.log(`passthrough_${name}_vs_raw: ${(rate / raw).toFixed(2)} ratio`);
    if (delivery === 'exactly-once') console.log(`passthrough_exactly_once_transactions: ${stats.transactions} transactions`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
