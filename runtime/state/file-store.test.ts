import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemoryStoreProvider } from '../../core/store';
import { FileStore, FileStoreProvider } from './file-store';

const v = (raw: string, model = 'm') => ({ raw, model });

describe('FileStore', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-store-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('survives a reopen, later writes win, and a torn last line is skipped', async () => {
    const a = await FileStore.open(dir, 'verdicts', 'VerdictCacheEntry');
    await Promise.all([a.put('k1', v('v1')), a.put('k2', v('v2')), a.put('k1', v('v1b'))]);
    await a.close();
    // A crash mid-append leaves half a line behind.
    fs.appendFileSync(path.join(dir, 'verdicts.jsonl'), '["k3",{"raw":"v');
    const b = await FileStore.open(dir, 'verdicts', 'VerdictCacheEntry');
    expect(await b.get('k1')).toEqual(v('v1b'));
    expect(await b.get('k2')).toEqual(v('v2'));
    expect(await b.get('k3')).toBeUndefined();
    expect(b.size()).toBe(2);
    expect(b.keys('k').sort()).toEqual(['k1', 'k2']);
    expect(b.keys('k2')).toEqual(['k2']);
    expect(b.keys('x')).toEqual([]);
    await b.put('k4', v('v4'));
    await b.close();
    const c = await FileStore.open(dir, 'verdicts', 'VerdictCacheEntry');
    expect(await c.get('k4')).toEqual(v('v4'));
    await c.close();
  });

  it('keeps values with newlines and quotes intact', async () => {
    const p = new FileStoreProvider(dir);
    const s = await p.open('x', 'VerdictCacheEntry');
    const value = v('{"keep_indices": [1]}\nline2 "quoted" \u0000 é');
    await s.put('k', value);
    await p.close();
    const again = new FileStoreProvider(dir);
    expect(await (await again.open('x', 'VerdictCacheEntry')).get('k')).toEqual(value);
    await again.close();
  });

  it('reads lines written before stores were typed (the value as JSON text), and skips values of another shape', async () => {
    const file = path.join(dir, 'verdicts.jsonl');
    fs.writeFileSync(
      file,
      [
        JSON.stringify(['old', JSON.stringify(v('{"keep":true,"reason":"ok"}', 'gpt-5-mini'))]),
        JSON.stringify(['bad', JSON.stringify({ raw: 1 })]),
        JSON.stringify(['worse', { model: 'm' }]),
      ].join('\n') + '\n',
    );
    const s = await FileStore.open(dir, 'verdicts', 'VerdictCacheEntry');
    expect(await s.get('old')).toEqual(v('{"keep":true,"reason":"ok"}', 'gpt-5-mini'));
    expect(await s.get('bad')).toBeUndefined();
    expect(await s.get('worse')).toBeUndefined();
    await s.close();
  });

  it('refuses a value that is not of the store type, and writes nothing for it', async () => {
    const s = await FileStore.open(dir, 'verdicts', 'VerdictCacheEntry');
    await expect(s.put('k', { raw: 'x' } as never)).rejects.toThrow();
    expect(await s.get('k')).toBeUndefined();
    await s.close();
    expect(fs.readFileSync(path.join(dir, 'verdicts.jsonl'), 'utf8')).toBe('');
  });

  it('rejects store names that would escape the directory', async () => {
    await expect(FileStore.open(dir, '../evil', 'VerdictCacheEntry')).rejects.toThrow(/store name/);
  });

  it('a store name holds one value type (file and memory providers)', async () => {
    const p = new FileStoreProvider(dir);
    await p.open('x', 'VerdictCacheEntry');
    await expect(p.open('x', 'LabelLogEntry')).rejects.toThrow(/holds VerdictCacheEntry values/);
    await p.close();
    const m = new MemoryStoreProvider();
    await m.open('x', 'VerdictCacheEntry');
    await expect(m.open('x', 'LabelLogEntry')).rejects.toThrow(/holds VerdictCacheEntry values/);
  });
});
