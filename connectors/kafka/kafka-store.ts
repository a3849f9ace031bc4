// A KeyValueStore backed by a compacted Kafka topic, shared by every instance of a node
// and surviving restarts. Each instance reads the topic from the beginning on open (it is
// ready once it has caught up with the end offsets it saw), keeps tailing it so entries
// written by other instances arrive, and writes its own entries with an idempotent
// producer. Writes are outside the node's transactions on purpose: a verdict that was
// paid for stays cached even if the transaction holding its outputs aborts.
import type { Kafka } from 'kafkajs';
import type { Logger } from '../../core/logger';
import type { KeyValueStore, StoreProvider } from '../../core/store';
import { TopicTail } from './topic-tail';

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
  private tail?: TopicTail;

  private constructor(readonly name: string, readonly topic: string) {}

  static async open(kafka: Kafka, name: string, opts: KafkaStoreOptions): Promise<KafkaStore> {
    const store = new KafkaStore(name, `${opts.topicPrefix}${name}`);
    const create = {
      topic: store.topic,
      numPartitions: opts.partitions ?? 4,
      replicationFactor: opts.replicationFactor ?? 1,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    };
    store.tail = await TopicTail.open(kafka, create, (_, message) => {
      const key = message.key?.toString('utf8');
      if (key === undefined) return;
      if (message.value === null) store.map.delete(key);
      else store.map.set(key, message.value.toString('utf8'));
    });
    try {
      await store.tail.caughtUp(opts.loadTimeoutMs ?? 120_000, `store ${name}`);
    } catch (err) {
      await store.tail.close();
      throw err;
    }
    opts.logger.info({ store: name, topic: store.topic, entries: store.map.size }, 'store loaded');
    return store;
  }

  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }

  async put(key: string, value: string): Promise<void> {
    await this.tail!.producer!.send({ topic: this.topic, acks: -1, messages: [{ key, value }] });
    this.map.set(key, value);
  }

  size(): number {
    return this.map.size;
  }

  async close(): Promise<void> {
    await this.tail?.close();
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
