// Key-value state a processor can keep across records and restarts (e.g. the verifier's
// verdict cache), in the spirit of Kafka Streams' state stores. The runtime decides where
// it lives: in memory for tests, a file for the embedded runtime, a compacted topic on
// Kafka so that every instance shares it and it survives restarts.
//
// Keys are plain strings (UTF-8 record keys on Kafka). Values are records of one type from
// schemas/ (the store's `valueType`), so a store's topic carries Avro in the Confluent wire
// format like every other topic.
import { z } from 'zod';
import type { RecordTypeName, RecordTypes } from '../schemas/catalog';

/** A node's cache kept in a state store (the verifier's verdicts, vqa answers): on or off, and the store's name. */
export function cacheStoreConfig(defaultStore: string) {
  return z
    .object({
      enabled: z.boolean().default(true),
      /** Store name: a file in the embedded runtime, compacted topic `<prefix><store>` on Kafka. */
      store: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/)
        .default(defaultStore),
    })
    .strict()
    .prefault({});
}

export interface KeyValueStore<V> {
  readonly name: string;
  get(key: string): Promise<V | undefined>;
  /** Durable once the promise resolves (as durable as the backing medium). */
  put(key: string, value: V): Promise<void>;
  /** Entries currently known. */
  size(): number;
  /** Keys currently known that start with `prefix` (all keys for ''), e.g. every instance's share of a window. */
  keys(prefix?: string): string[];
}

/** The keys of `map` starting with `prefix`: the stores keep their entries in maps. */
export function keysWithPrefix(map: ReadonlyMap<string, unknown>, prefix = ''): string[] {
  return [...map.keys()].filter((k) => k.startsWith(prefix));
}

export interface StoreProvider {
  /**
   * Opens (or returns the already open) store `name`, loaded and ready to read. Its values
   * are records of `valueType`; opening one name with two types is an error.
   */
  open<N extends RecordTypeName>(name: string, valueType: N): Promise<KeyValueStore<RecordTypes[N]>>;
  close(): Promise<void>;
}

/** Refuses a second open of `name` with another value type. */
export function checkStoreType(name: string, opened: RecordTypeName, asked: RecordTypeName): void {
  if (opened !== asked) throw new Error(`store '${name}' holds ${opened} values; it cannot be opened for ${asked}`);
}

export class MemoryStore<V> implements KeyValueStore<V> {
  private readonly map = new Map<string, V>();
  constructor(readonly name: string) {}
  async get(key: string): Promise<V | undefined> {
    return this.map.get(key);
  }
  async put(key: string, value: V): Promise<void> {
    this.map.set(key, value);
  }
  size(): number {
    return this.map.size;
  }
  keys(prefix = ''): string[] {
    return keysWithPrefix(this.map, prefix);
  }
}

/** Stores that live as long as the provider: one per name. */
export class MemoryStoreProvider implements StoreProvider {
  private readonly stores = new Map<string, { type: RecordTypeName; store: MemoryStore<unknown> }>();
  async open<N extends RecordTypeName>(name: string, valueType: N): Promise<KeyValueStore<RecordTypes[N]>> {
    let s = this.stores.get(name);
    if (!s) this.stores.set(name, (s = { type: valueType, store: new MemoryStore(name) }));
    checkStoreType(name, s.type, valueType);
    return s.store as MemoryStore<RecordTypes[N]>;
  }
  async close(): Promise<void> {}
}
