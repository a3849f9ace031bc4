import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore, FileStoreProvider } from './file-store';

describe('FileStore', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-store-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('survives a reopen, later writes win, and a torn last line is skipped', async () => {
    const a = await FileStore.open(dir, 'verdicts');
    await Promise.all([a.put('k1', 'v1'), a.put('k2', 'v2'), a.put('k1', 'v1b')]);
    await a.close();
    // A crash mid-append leaves half a line behind.
    fs.appendFileSync(path.join(dir, 'verdicts.jsonl'), '["k3","v');
    const b = await FileStore.open(dir, 'verdicts');
    expect(await b.get('k1')).toBe('v1b');
    expect(await b.get('k2')).toBe('v2');
    expect(await b.get('k3')).toBeUndefined();
    expect(b.size()).toBe(2);
    await b.put('k4', 'v4');
    await b.close();
    const c = await FileStore.open(dir, 'verdicts');
    expect(await c.get('k4')).toBe('v4');
    await c.close();
  });

  it('keeps values with newlines and quotes intact', async () => {
    const p = new FileStoreProvider(dir);
    const s = await p.open('x');
    const v = JSON.stringify({ raw: 'line1\n"quoted"' });
    await s.put('k', v);
    await p.close();
    const again = new FileStoreProvider(dir);
    expect(await (await again.open('x')).get('k')).toBe(v);
    await again.close();
  });

  it('rejects store names that would escape the directory', async () => {
    await expect(FileStore.open(dir, '../evil')).rejects.toThrow(/store name/);
  });
});
