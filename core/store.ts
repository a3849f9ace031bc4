// Key-value state a processor can keep across records and restarts (e.g. the verifier's
// verdict cache), in the spirit of Kafka Streams' state stores. The runtime decides where
// it lives: in memory for tests, a file for the embedded runtime, a compacted topic on
// Kafka so that every instance shares it and it survives restarts.

export interface KeyValueStore {
  readonly name: string;
  get(key: string): Promise<string | undefined>;
  /** Durable once the promise resolves (as durable as the backing medium). */
  put(key: string, value: string): Promise<void>;
  /** Entries currently known. */
  size(): number;
}

export interface StoreProvider {
  /** Opens (or returns the already open) store `name`, loaded and ready to read. */
  open(name: string): Promise<KeyValueStore>;
  close(): Promise<void>;
}

export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  constructor(readonly name: string) {}
  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }
  async put(key: string, value: string): Promise<void> {
    this.map.set(key, value);
  }
  size(): number {
    return this.map.size;
  }
}

/** Stores that live as long as the provider: one per name. */
export class MemoryStoreProvider implements StoreProvider {
  private readonly stores = new Map<string, MemoryStore>();
  async open(name: string): Promise<KeyValueStore> {
    let s = this.stores.get(name);
    if (!s) this.stores.set(name, (s = new MemoryStore(name)));
    return s;
  }
  async close(): Promise<void> {}
}
