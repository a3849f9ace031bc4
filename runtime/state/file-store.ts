// A KeyValueStore in an append-only JSON-lines file, for the embedded runtime: it survives
// restarts of the process, and processes on one host (or a shared volume) can share it by
// pointing at the same directory. Later lines win; a torn last line (a crash mid-append)
// is skipped on load, which only costs the cache entry it held.
//
// A line is `[key, value]`, the value in Avro's JSON encoding of the store's record type
// (avsc's toString/fromString, so bytes, longs and unions survive). Lines written before
// stores were typed hold the value as a string of plain JSON; they are still read, and a
// line whose value does not fit the type is skipped like a torn one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as avro from 'avsc';
import { checkStoreType, keysWithPrefix, KeyValueStore, StoreProvider } from '../../core/store';
import { loadSchema, RecordTypeName, RecordTypes } from '../../schemas/catalog';

export class FileStore<V> implements KeyValueStore<V> {
  private readonly map = new Map<string, V>();
  private fd: fs.promises.FileHandle | undefined;
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    readonly name: string,
    readonly file: string,
    private readonly type: avro.Type,
  ) {}

  static async open<N extends RecordTypeName>(dir: string, name: string, valueType: N): Promise<FileStore<RecordTypes[N]>> {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`store name '${name}' may use only letters, digits, '.', '_' and '-'`);
    await fs.promises.mkdir(dir, { recursive: true });
    const store = new FileStore<RecordTypes[N]>(name, path.join(dir, `${name}.jsonl`), loadSchema(valueType).type);
    let text = '';
    try {
      text = await fs.promises.readFile(store.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const [k, v] = JSON.parse(line) as [unknown, unknown];
        if (typeof k !== 'string') continue;
        const value = typeof v === 'string' ? JSON.parse(v) : store.type.fromString(JSON.stringify(v));
        if (store.type.isValid(value)) store.map.set(k, value as RecordTypes[N]);
      } catch {
        // torn write, or a value that does not fit the type: skip
      }
    }
    store.fd = await fs.promises.open(store.file, 'a');
    // End a torn line so the next entry starts on a line of its own.
    if (text && !text.endsWith('\n')) await store.fd.appendFile('\n');
    return store;
  }

  async get(key: string): Promise<V | undefined> {
    return this.map.get(key);
  }

  async put(key: string, value: V): Promise<void> {
    // toString validates: a value that is not of the store's type fails here, not on load.
    const line = `[${JSON.stringify(key)},${this.type.toString(value)}]\n`;
    this.map.set(key, value);
    // Appends are serialised so that lines never interleave within this process.
    const write = this.tail.then(async () => {
      await this.fd!.appendFile(line);
    });
    this.tail = write.catch(() => undefined);
    await write;
  }

  size(): number {
    return this.map.size;
  }

  keys(prefix = ''): string[] {
    return keysWithPrefix(this.map, prefix);
  }

  async close(): Promise<void> {
    await this.tail;
    await this.fd?.sync().catch(() => undefined);
    await this.fd?.close();
    this.fd = undefined;
  }
}

export class FileStoreProvider implements StoreProvider {
  private readonly stores = new Map<string, { type: RecordTypeName; store: Promise<FileStore<unknown>> }>();
  constructor(readonly dir: string) {}
  async open<N extends RecordTypeName>(name: string, valueType: N): Promise<KeyValueStore<RecordTypes[N]>> {
    let s = this.stores.get(name);
    if (!s) this.stores.set(name, (s = { type: valueType, store: FileStore.open(this.dir, name, valueType) as Promise<FileStore<unknown>> }));
    checkStoreType(name, s.type, valueType);
    return (await s.store) as FileStore<RecordTypes[N]>;
  }
  async close(): Promise<void> {
    for (const s of this.stores.values()) await (await s.store).close();
    this.stores.clear();
  }
}
