import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { frame } from '../../runtime/registry/registry-client';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { silentLogger } from '../../core/logger';
import { loadSchema } from '../../schemas/catalog';
import type { DeadLetter, ImageQuery } from '../../schemas/generated/types';
import { passthroughTopology } from '../../topology/valor-topology';
import { topicByName } from '../../topology/topology';
import { imageQuery } from '../fixtures/records';
import { readTopic, runId, testKafka, testRegistry } from './services';

jest.setTimeout(180_000);

describe('dead letters on the real broker', () => {
  it('sends undecodable, wrong-schema and invalid records to dead letters and goes on', async () => {
    const id = runId();
    const input = `it.${id}.in`;
    const topology = passthroughTopology({ input, output: `it.${id}.out`, deadLetters: `it.${id}.dl`, partitions: 1 });
    const kafka = testKafka();
    const registry = testRegistry();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(registry, (t) => topicByName(topology, t).type);
    const enc = (v: ImageQuery) => serdes.for<ImageQuery>(input).encode(v);
    // A schema id that exists in the registry but belongs to another record type.
    const dlSchemaId = await registry.register(`it.${id}.other-value`, loadSchema('DeadLetter'));

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: input,
      messages: [
        { key: 'ok-1', value: await enc(imageQuery(1)) },
        { key: 'garbage', value: Buffer.from('{"json": "not avro"}') },
        { key: 'wrong-schema', value: frame(dlSchemaId, Buffer.from([0x02, 0x41, 0x00])) },
        { key: 'invalid', value: await enc(imageQuery(2, { question: '' })) },
        { key: 'ok-3', value: await enc(imageQuery(3)) },
      ],
    });
    await producer.disconnect();

    const runtime = new KafkaRuntime(topology, { kafka, registry, logger: silentLogger, config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}` }) });
    await runtime.start();
    const [out, dls] = await Promise.all([readTopic(kafka, `it.${id}.out`, 2), readTopic(kafka, `it.${id}.dl`, 3)]);
    await runtime.stop();

    expect(out.map((m) => m.key)).toEqual(['ok-1', 'ok-3']);
    const decoded = await Promise.all(dls.map((m) => serdes.for<DeadLetter>(`it.${id}.dl`).decode(m.value)));
    decoded.sort((a, b) => a.source.offset - b.source.offset);
    expect(decoded.map((d) => d.source.offset)).toEqual([1, 2, 3]);
    expect(decoded.every((d) => d.source.topic === input && d.source.partition === 0 && d.node === 'passthrough')).toBe(true);
    expect(decoded[0]!.reason).toMatch(/magic byte/);
    expect(decoded[0]!.payload!.toString()).toBe('{"json": "not avro"}');
    expect(decoded[1]!.errorClass).toBe('DecodeError');
    expect(decoded[1]!.reason).toMatch(/as ImageQuery/);
    expect(decoded[2]!.errorClass).toBe('ValidationError');
    expect(decoded[2]!.reason).toMatch(/question is empty/);
  });
});
