// A KeyValueStore backed by a compacted Kafka topic, shared by every instance of a node
// and surviving restarts. Each instance reads the topic from the beginning on open (it is
// ready once it has caught up with the end offsets it saw), keeps tailing it so entries
// written by other instances arrive, and writes its own entries with an idempotent
// producer. Writes are outside the node's transactions on purpose: a verdict that was
// paid for stays cached even if the transaction holding its outputs aborts.
//
// Like every topic, the store's topic carries Avro in the Confluent wire format: values are
// records of the store's type, registered under `<topic>-value` through the same serde as
// the topology's topics; keys are plain UTF-8 strings. The tail keeps the bytes and a value
// is decoded on its first get(), because the tail's callback is synchronous and decoding
// may have to fetch a writer schema.
import type { Kafka } from 'kafkajs';
import { isRetriable } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { KeyValueStore, StoreProvider } from '../../core/store';
import { checkStoreType, keysWithPrefix } from '../../core/store';
import type { RecordTypeName, RecordTypes } from '../../schemas/catalog';
import type { RegistryClient } from '../registry/registry-client';
import { MAGIC_BYTE } from '../registry/registry-client';
import { TopicSerde } from '../serde/topic-serde';
import { TopicTail } from './topic-tail';

export interface KafkaStoreOptions {
  /** Store `name` lives in topic `<topicPrefix><name>`. */
  topicPrefix: string;
  /** Where the value schemas are registered (the topology's registry). */
  registry: RegistryClient;
  partitions?: number;
  replicationFactor?: number;
  /** How long open() may take to catch up with the topic before it fails. */
  loadTimeoutMs?: number;
  logger: Logger;
}

/** An entry as read from the topic (bytes, decoded on first use) or as written here. */
type Entry<V> = { bytes: Buffer; value?: undefined } | { bytes?: undefined; value: V };

export class KafkaStore<V> implements KeyValueStore<V> {
  private readonly map = new Map<string, Entry<V>>();
  private tail?: TopicTail;
  private warned = false;

  private constructor(
    readonly name: string,
    readonly topic: string,
    private readonly serde: TopicSerde<V>,
    private readonly logger: Logger,
  ) {}

  static async open<N extends RecordTypeName>(kafka: Kafka, name: string, valueType: N, opts: KafkaStoreOptions): Promise<KafkaStore<RecordTypes[N]>> {
    const topic = `${opts.topicPrefix}${name}`;
    const serde = new TopicSerde<RecordTypes[N]>(topic, valueType, opts.registry);
    // Registered up front, so a bad registry fails start-up rather than the first put.
    await serde.id();
    const store = new KafkaStore<RecordTypes[N]>(name, topic, serde, opts.logger);
    const create = {
      topic,
      numPartitions: opts.partitions ?? 4,
      replicationFactor: opts.replicationFactor ?? 1,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    };
    store.tail = await TopicTail.open(kafka, create, (_, message) => {
      const key = message.key?.toString('utf8');
      if (key === undefined) return;
      if (message.value === null) store.map.delete(key);
      else store.map.set(key, { bytes: message.value });
    });
    try {
      await store.tail.caughtUp(opts.loadTimeoutMs ?? 120_000, `store ${name}`);
    } catch (err) {
      await store.tail.close();
      throw err;
    }
    opts.logger.info({ store: name, topic, valueType, entries: store.map.size }, 'store loaded');
    return store;
  }

  async get(key: string): Promise<V | undefined> {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.bytes === undefined) return e.value;
    const value = await this.decode(key, e.bytes);
    // Unless a newer entry arrived meanwhile, keep the decoded value.
    if (value !== undefined && this.map.get(key) === e) this.map.set(key, { value });
    return value;
  }

  async put(key: string, value: V): Promise<void> {
    const bytes = await this.serde.encode(value);
    await this.tail!.producer!.send({ topic: this.topic, acks: -1, messages: [{ key, value: bytes }] });
    this.map.set(key, { value });
  }

  size(): number {
    return this.map.size;
  }

  /** Includes entries other instances wrote, as far as the tail has read them. */
  keys(prefix = ''): string[] {
    return keysWithPrefix(this.map, prefix);
  }

  async close(): Promise<void> {
    await this.tail?.close();
  }

  /**
   * The entry's value; undefined (a miss) when it does not decode as the store's type. An
   * entry written before the topic was Avro holds the record as plain JSON text and is
   * still read. An unreachable registry throws (retriable) instead of turning into a miss.
   */
  private async decode(key: string, bytes: Buffer): Promise<V | undefined> {
    if (bytes[0] !== MAGIC_BYTE) {
      try {
        const legacy = JSON.parse(bytes.toString('utf8'));
        if (this.serde.schema.type.isValid(legacy)) return legacy as V;
      } catch {
        // not JSON either: below
      }
    }
    try {
      return await this.serde.decode(bytes);
    } catch (err) {
      if (isRetriable(err)) throw err;
      if (!this.warned) {
        this.warned = true;
        this.logger.warn(
          { store: this.name, topic: this.topic, key, error: String(err) },
          'store entry does not decode; treated as missing (further ones are not logged)',
        );
      }
      return undefined;
    }
  }
}

export class KafkaStoreProvider implements StoreProvider {
  private readonly stores = new Map<string, { type: RecordTypeName; store: Promise<KafkaStore<unknown>> }>();
  constructor(
    private readonly kafka: Kafka,
    private readonly opts: KafkaStoreOptions,
  ) {}
  async open<N extends RecordTypeName>(name: string, valueType: N): Promise<KeyValueStore<RecordTypes[N]>> {
    let s = this.stores.get(name);
    if (!s) {
      const store = KafkaStore.open(this.kafka, name, valueType, this.opts) as Promise<KafkaStore<unknown>>;
      store.catch(() => this.stores.delete(name));
      this.stores.set(name, (s = { type: valueType, store }));
    }
    checkStoreType(name, s.type, valueType);
    return (await s.store) as KafkaStore<RecordTypes[N]>;
  }
  async close(): Promise<void> {
    const all = [...this.stores.values()];
    this.stores.clear();
    await Promise.allSettled(all.map(async (s) => (await s.store).close()));
  }
}
