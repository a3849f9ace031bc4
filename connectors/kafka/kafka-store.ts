// A KeyValueStore backed by a compacted Kafka topic, shared by every instance of a node
// and surviving restarts. Each instance reads the topic from the beginning on open (it is
// ready once it has caught up with the end offsets it saw), keeps tailing it so entries
// written by other instances arrive, and writes its own entries with an idempotent
// producer. Writes are outside the node's transactions on purpose: a verdict that was
// paid for stays cached even if the transaction holding its outputs aborts.
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Logger } from '../../core/logger';
import type { KeyValueStore, StoreProvider } from '../../core/store';

export interface KafkaStoreOptions {
  /** Store `name` lives in topic `<topicPrefix><name>`. */
  topicPrefix: string;
  partitions?: number;
  replicationFactor?: number;
  /** How long open() may take to catch up with the topic before it fails. */
  loadTimeoutMs?: number;
  logger: Logger;
}

export class KafkaStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  private consumer?: Consumer;
  private producer?: Producer;

  private constructor(readonly name: string, readonly topic: string) {}

  static async open(kafka: Kafka, name: string, opts: KafkaStoreOptions): Promise<KafkaStore> {
    const store = new KafkaStore(name, `${opts.topicPrefix}${name}`);
    const admin = kafka.admin();
    await admin.connect();
    let ends: Map<number, bigint>;
    try {
      if (!(await admin.listTopics()).includes(store.topic)) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic: store.topic,
              numPartitions: opts.partitions ?? 4,
              replicationFactor: opts.replicationFactor ?? 1,
              configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
            },
          ],
        });
      }
      const offsets = await admin.fetchTopicOffsets(store.topic);
      ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    } finally {
      await admin.disconnect();
    }

    // A fresh group per instance that never commits: every instance reads everything.
    const consumer = kafka.consumer({ groupId: `${store.topic}.reader.${randomUUID()}`, allowAutoTopicCreation: false });
    store.consumer = consumer;
    const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
    let loaded!: () => void;
    const ready = new Promise<void>((r) => (loaded = r));
    if (pending.size === 0) loaded();
    await consumer.connect();
    await consumer.subscribe({ topics: [store.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const key = message.key?.toString('utf8');
        if (key !== undefined) {
          if (message.value === null) store.map.delete(key);
          else store.map.set(key, message.value.toString('utf8'));
        }
        if (pending.has(partition) && BigInt(message.offset) + 1n >= ends.get(partition)!) {
          pending.delete(partition);
          if (pending.size === 0) loaded();
        }
      },
    });
    const timeoutMs = opts.loadTimeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`store ${name}: could not read topic ${store.topic} to its end within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }

    store.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await store.producer.connect();
    opts.logger.info({ store: name, topic: store.topic, entries: store.map.size }, 'store loaded');
    return store;
  }

  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }

  async put(key: string, value: string): Promise<void> {
    await this.producer!.send({ topic: this.topic, acks: -1, messages: [{ key, value }] });
    this.map.set(key, value);
  }

  size(): number {
    return this.map.size;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.consumer?.disconnect(), this.producer?.disconnect()]);
  }
}

export class KafkaStoreProvider implements StoreProvider {
  private readonly stores = new Map<string, Promise<KafkaStore>>();
  constructor(private readonly kafka: Kafka, private readonly opts: KafkaStoreOptions) {}
  open(name: string): Promise<KafkaStore> {
    let s = this.stores.get(name);
    if (!s) {
      s = KafkaStore.open(this.kafka, name, this.opts);
      s.catch(() => this.stores.delete(name));
      this.stores.set(name, s);
    }
    return s;
  }
  async close(): Promise<void> {
    const all = [...this.stores.values()];
    this.stores.clear();
    await Promise.allSettled(all.map(async (s) => (await s).close()));
  }
}
