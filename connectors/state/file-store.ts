// A KeyValueStore in an append-only JSON-lines file, for the embedded runtime: it survives
// restarts of the process, and processes on one host (or a shared volume) can share it by
// pointing at the same directory. Later lines win; a torn last line (a crash mid-append)
// is skipped on load, which only costs the cache entry it held.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KeyValueStore, StoreProvider } from '../../core/store';

export class FileStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  private fd: fs.promises.FileHandle | undefined;
  private tail: Promise<void> = Promise.resolve();

  private constructor(readonly name: string, readonly file: string) {}

  static async open(dir: string, name: string): Promise<FileStore> {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`store name '${name}' may use only letters, digits, '.', '_' and '-'`);
    await fs.promises.mkdir(dir, { recursive: true });
    const store = new FileStore(name, path.join(dir, `${name}.jsonl`));
    let text = '';
    try {
      text = await fs.promises.readFile(store.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const [k, v] = JSON.parse(line) as [string, string];
        if (typeof k === 'string' && typeof v === 'string') store.map.set(k, v);
      } catch {
        // torn write: skip
      }
    }
    store.fd = await fs.promises.open(store.file, 'a');
    // End a torn line so the next entry starts on a line of its own.
    if (text && !text.endsWith('\n')) await store.fd.appendFile('\n');
    return store;
  }

  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }

  async put(key: string, value: string): Promise<void> {
    this.map.set(key, value);
    const line = JSON.stringify([key, value]) + '\n';
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

  async close(): Promise<void> {
    await this.tail;
    await this.fd?.sync().catch(() => undefined);
    await this.fd?.close();
    this.fd = undefined;
  }
}

export class FileStoreProvider implements StoreProvider {
  private readonly stores = new Map<string, Promise<FileStore>>();
  constructor(readonly dir: string) {}
  open(name: string): Promise<FileStore> {
    let s = this.stores.get(name);
    if (!s) this.stores.set(name, (s = FileStore.open(this.dir, name)));
    return s;
  }
  async close(): Promise<void> {
    for (const s of this.stores.values()) await (await s).close();
    this.stores.clear();
  }
}
