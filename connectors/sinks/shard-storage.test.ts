import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalFileStorage } from './shard-storage';

describe('LocalFileStorage', () => {
  let root: string;
  let storage: LocalFileStorage;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-shard-storage-'));
    storage = new LocalFileStorage(root);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('writes a temp in pieces, publishes it under its final name, and lists with sizes', async () => {
    const t = await storage.createTemp('a/b/x.jsonl.tmp');
    await t.write('{"a":1}\n');
    await t.write(Buffer.from('{"b":2}\n'));
    await t.sync();
    await t.close();
    expect(await storage.list('a/b')).toEqual([{ name: 'x.jsonl.tmp', size: 16 }]);
    await storage.publish('a/b/x.jsonl.tmp', 'a/b/x.jsonl');
    expect(await storage.exists('a/b/x.jsonl.tmp')).toBe(false);
    expect((await storage.read('a/b/x.jsonl')).toString()).toBe('{"a":1}\n{"b":2}\n');
    expect(await storage.size('a/b/x.jsonl')).toBe(16);
    expect(await storage.size('a/b/nope')).toBeNull();
  });

  it('lists by name prefix, sorted, files only, and a missing directory as empty', async () => {
    await storage.writeAtomic('d/t+1+2', 'x');
    await storage.writeAtomic('d/t+1+1', 'xy');
    await storage.writeAtomic('d/t+10+1', 'xyz');
    fs.mkdirSync(path.join(root, 'd', 't+1+sub'));
    expect(await storage.list('d', 't+1+')).toEqual([{ name: 't+1+1', size: 2 }, { name: 't+1+2', size: 1 }]);
    expect((await storage.list('d')).map((f) => f.name)).toEqual(['t+1+1', 't+1+2', 't+10+1']);
    expect(await storage.list('missing')).toEqual([]);
  });

  it('writeAtomic replaces the whole file and leaves no temp behind', async () => {
    await storage.writeAtomic('m/manifest.json', 'old');
    await storage.writeAtomic('m/manifest.json', 'new content');
    expect((await storage.read('m/manifest.json')).toString()).toBe('new content');
    expect(fs.readdirSync(path.join(root, 'm'))).toEqual(['manifest.json']);
  });

  it('delete is idempotent', async () => {
    await storage.writeAtomic('f', 'x');
    await storage.delete('f');
    await storage.delete('f');
    expect(await storage.exists('f')).toBe(false);
  });

  it('refuses paths outside its root', async () => {
    await expect(storage.read('../etc/passwd')).rejects.toThrow(/outside the storage root/);
    expect(() => storage.resolve('/etc/passwd')).toThrow(/outside the storage root/);
  });

  it('removes writeAtomic temps of dead processes only', async () => {
    // A pid that surely no longer runs: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    fs.mkdirSync(path.join(root, 'm'));
    fs.writeFileSync(path.join(root, 'm', `manifest.json.${dead}-0.tmp`), 'torn');
    fs.writeFileSync(path.join(root, 'm', `manifest.json.${process.pid}-7.tmp`), 'mine, in progress');
    fs.writeFileSync(path.join(root, 'm', `other.json.${dead}-0.tmp`), 'not this file');
    expect(await storage.removeStaleTemps('m/manifest.json')).toBe(1);
    expect(fs.readdirSync(path.join(root, 'm')).sort()).toEqual([`manifest.json.${process.pid}-7.tmp`, `other.json.${dead}-0.tmp`]);
  });
});
