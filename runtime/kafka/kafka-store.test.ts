// The compacted-topic store without a broker: the topic tail is replaced by an in-process
// stand-in, so what is checked is what the store writes (Confluent-framed Avro values,
// plain keys) and how it reads entries back (lazily decoded, legacy JSON still read).
import type { Kafka, KafkaMessage } from 'kafkajs';
import { silentLogger } from '../../core/logger';
import { loadSchema } from '../../schemas/catalog';
import { MemoryRegistry } from '../registry/memory-registry';
import { KafkaStore, KafkaStoreProvider } from './kafka-store';

interface Sent {
  topic: string;
  messages: Array<{ key: string; value: Buffer }>;
}

const fake: { sent: Sent[]; deliver?: (partition: number, message: KafkaMessage) => void; existing: Array<{ key: string; value: Buffer | null }> } = {
  sent: [],
  existing: [],
};

jest.mock('./topic-tail', () => ({
  TopicTail: {
    open: async (_kafka: unknown, _create: unknown, onMessage: (partition: number, message: KafkaMessage) => void) => {
      fake.deliver = onMessage;
      for (const e of fake.existing) onMessage(0, { key: Buffer.from(e.key), value: e.value } as KafkaMessage);
      return {
        partitions: 1,
        producer: { send: async (r: Sent) => void fake.sent.push(r) },
        caughtUp: async () => undefined,
        close: async () => undefined,
      };
    },
  },
}));

const kafka = {} as Kafka;
const entry = { raw: '{"keep":true,"reason":"a red circle"}', model: 'gpt-5-mini' };

describe('KafkaStore', () => {
  beforeEach(() => {
    fake.sent = [];
    fake.existing = [];
  });

  it('writes UTF-8 keys and Confluent-framed Avro values registered under <topic>-value, and reads them back', async () => {
    const registry = new MemoryRegistry();
    const store = await KafkaStore.open(kafka, 'verdicts', 'VerdictCacheEntry', { topicPrefix: 'valor.store.', registry, logger: silentLogger });
    expect(store.topic).toBe('valor.store.verdicts');
    await store.put('k1', entry);
    expect(fake.sent).toHaveLength(1);
    const [m] = fake.sent[0]!.messages;
    expect(fake.sent[0]!.topic).toBe('valor.store.verdicts');
    expect(m!.key).toBe('k1');
    expect(m!.value[0]).toBe(0); // magic byte
    const id = m!.value.readUInt32BE(1);
    expect(id).toBe(await registry.register('valor.store.verdicts-value', loadSchema('VerdictCacheEntry')));
    expect(await store.get('k1')).toEqual(entry);

    // An entry written by another instance arrives through the tail as bytes.
    fake.deliver!(0, { key: Buffer.from('k2'), value: m!.value } as KafkaMessage);
    expect(await store.get('k2')).toEqual(entry);
    expect(store.keys('k').sort()).toEqual(['k1', 'k2']);
    // A tombstone deletes.
    fake.deliver!(0, { key: Buffer.from('k2'), value: null } as KafkaMessage);
    expect(await store.get('k2')).toBeUndefined();
    expect(store.size()).toBe(1);
    expect(store.keys()).toEqual(['k1']);
  });

  it('reads entries written before the topic was Avro (JSON text), and treats undecodable ones as missing', async () => {
    fake.existing = [
      { key: 'legacy', value: Buffer.from(JSON.stringify(entry)) },
      { key: 'garbage', value: Buffer.from('not json, not avro') },
      { key: 'wrong-shape', value: Buffer.from(JSON.stringify({ raw: 1 })) },
    ];
    const store = await KafkaStore.open(kafka, 'verdicts', 'VerdictCacheEntry', { topicPrefix: 'p.', registry: new MemoryRegistry(), logger: silentLogger });
    expect(store.size()).toBe(3);
    expect(await store.get('legacy')).toEqual(entry);
    expect(await store.get('garbage')).toBeUndefined();
    expect(await store.get('wrong-shape')).toBeUndefined();
  });

  it('refuses a value that is not of the store type, and sends nothing', async () => {
    const store = await KafkaStore.open(kafka, 'verdicts', 'VerdictCacheEntry', { topicPrefix: 'p.', registry: new MemoryRegistry(), logger: silentLogger });
    await expect(store.put('k', { raw: 'x' } as never)).rejects.toThrow(/invalid field/);
    expect(fake.sent).toHaveLength(0);
    expect(await store.get('k')).toBeUndefined();
  });

  it('the provider opens a name once, with one value type', async () => {
    const p = new KafkaStoreProvider(kafka, { topicPrefix: 'p.', registry: new MemoryRegistry(), logger: silentLogger });
    const a = await p.open('verdicts', 'VerdictCacheEntry');
    expect(await p.open('verdicts', 'VerdictCacheEntry')).toBe(a);
    await expect(p.open('verdicts', 'LabelLogEntry')).rejects.toThrow(/holds VerdictCacheEntry values/);
    await p.close();
  });
});
