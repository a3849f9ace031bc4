import { loadedKind, resourceKind, Resources } from './resources';

describe('Resources', () => {
  it('creates an entry once per kind and key, and lists a kind in creation order', () => {
    const r = new Resources();
    const a = resourceKind<{ name: string }>('a');
    const b = resourceKind<{ name: string }>('b');
    const x = r.get(a, 'k', () => ({ name: 'x' }));
    expect(r.get(a, 'k', () => ({ name: 'other' }))).toBe(x);
    const y = r.get(b, 'k', () => ({ name: 'y' }));
    expect(y).not.toBe(x);
    const z = r.get(a, 'k2', () => ({ name: 'z' }));
    expect(r.list(a)).toEqual([x, z]);
    r.forget(a, 'k', { name: 'not x' }); // only the entry it names
    expect(r.list(a)).toEqual([x, z]);
    r.forget(a, 'k', x);
    expect(r.list(a)).toEqual([z]);
  });

  it('keeps a load once it succeeds, forgets one that fails so the next call tries again, and closes what loaded', async () => {
    const closed: string[] = [];
    const kind = loadedKind<{ name: string; close(): void }>('model');
    const r = new Resources();
    let tries = 0;
    const load = async () => {
      if (++tries === 1) throw new Error('file missing');
      return { name: `m${tries}`, close: () => void closed.push(`m${tries}`) };
    };
    await expect(r.load(kind, 'k', load)).rejects.toThrow('file missing');
    await Promise.resolve(); // the failed load is forgotten once its rejection is seen
    const m = await r.load(kind, 'k', load);
    expect(m.name).toBe('m2');
    expect(await r.load(kind, 'k', load)).toBe(m);
    expect(tries).toBe(2);
    await r.closeAll();
    expect(closed).toEqual(['m2']);
  });

  it('closes newest first, goes on past a failing close, and refuses new entries after', async () => {
    const closed: string[] = [];
    const kind = resourceKind<string>('k', (v) => {
      closed.push(v);
      if (v === 'b') throw new Error('b will not close');
    });
    const r = new Resources();
    for (const v of ['a', 'b', 'c']) r.get(kind, v, () => v);
    const errors = await r.closeAll();
    expect(closed).toEqual(['c', 'b', 'a']);
    expect(errors.map(String)).toEqual(['Error: b will not close']);
    expect(r.list(kind)).toEqual([]);
    expect(() => r.get(kind, 'd', () => 'd')).toThrow(/closed/);
  });
});
