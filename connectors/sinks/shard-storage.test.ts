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
    expect(await storage.list('d', 't+1+')).toEqual([
      { name: 't+1+1', size: 2 },
      { name: 't+1+2', size: 1 },
    ]);
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

  it("removes stale temps under a directory: a dead writer's after the grace, anyone's after the max age", async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const live = process.ppid; // the test runner's parent: alive, and not this process
    const now = Date.now();
    const put = (rel: string, ageMs: number) => {
      const abs = path.join(root, rel);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, 'x');
      fs.utimesSync(abs, (now - ageMs) / 1000, (now - ageMs) / 1000);
    };
    const sha = (c: string) => c.repeat(64);
    put(`images/aa/${sha('a')}.png`, 0); // finished images are never touched, however old
    put(`images/aa/${sha('b')}.png`, 10 * 3_600_000);
    put(`images/aa/${sha('a')}.png.${dead}-0.tmp`, 120_000); // dead writer, past the grace: stale
    put(`images/bb/${sha('b')}.png.${dead}-3.tmp`, 5_000); // dead writer, within the grace: pending
    put(`images/bb/${sha('c')}.png.${live}-1.tmp`, 120_000); // live writer, not yet max age: kept
    put(`images/cc/${sha('c')}.png.${live}-2.tmp`, 2 * 3_600_000); // past the max age: stale whoever wrote it
    put(`images/cc/${sha('d')}.png.${process.pid}-4.tmp`, 120_000); // this process's own write: kept
    put('images/cc/notes.tmp', 10 * 3_600_000); // not a writeAtomic temp
    put(`shards/x.jsonl.${dead}-0.tmp`, 10 * 3_600_000); // outside the swept directory

    expect(await storage.removeStaleTempsUnder('images', { now })).toEqual({ removed: 2, pending: 1 });
    const left = (d: string) => fs.readdirSync(path.join(root, d)).sort();
    expect(left('images/aa')).toEqual([`${sha('a')}.png`, `${sha('b')}.png`]);
    expect(left('images/bb')).toEqual([`${sha('b')}.png.${dead}-3.tmp`, `${sha('c')}.png.${live}-1.tmp`]);
    expect(left('images/cc')).toEqual([`${sha('d')}.png.${process.pid}-4.tmp`, 'notes.tmp']);
    expect(left('shards')).toEqual([`x.jsonl.${dead}-0.tmp`]);

    // Once the grace has passed, the dead writer's young temp goes too.
    expect(await storage.removeStaleTempsUnder('images', { now: now + 60_000 })).toEqual({ removed: 1, pending: 0 });
    expect(await storage.removeStaleTempsUnder('missing')).toEqual({ removed: 0, pending: 0 });
    await expect(storage.removeStaleTempsUnder('../x')).rejects.toThrow(/outside the storage root/);
  });
});
