import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileLabelRegistry } from './label-registry';

describe('FileLabelRegistry', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-labels-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('assigns ids in first-appearance order, appends new classes, and keeps them after a restart', async () => {
    const file = path.join(dir, 'labels.log');
    const a = await FileLabelRegistry.open(file);
    expect([...(await a.idsFor(['cat', 'dog']))]).toEqual([['cat', 0], ['dog', 1]]);
    expect([...(await a.idsFor(['bird', 'cat']))]).toEqual([['bird', 2], ['cat', 0]]);
    await a.close();
    const b = await FileLabelRegistry.open(file);
    expect(b.labels()).toEqual(['cat', 'dog', 'bird']);
    expect([...(await b.idsFor(['dog', 'fish']))]).toEqual([['dog', 1], ['fish', 3]]);
  });

  it('two instances on one log agree, even when both add the same class', async () => {
    const file = path.join(dir, 'labels.log');
    const a = await FileLabelRegistry.open(file);
    const b = await FileLabelRegistry.open(file);
    const [ia, ib] = await Promise.all([a.idsFor(['x', 'y']), b.idsFor(['y', 'z'])]);
    expect(ia.get('y')).toBe(ib.get('y'));
    const all = await a.idsFor(['x', 'y', 'z']);
    expect(await b.idsFor(['x', 'y', 'z'])).toEqual(all);
    expect(new Set(all.values()).size).toBe(3);
  });

  it('survives a torn last line', async () => {
    const file = path.join(dir, 'labels.log');
    fs.writeFileSync(file, '"cat"\n"do');
    const r = await FileLabelRegistry.open(file);
    expect([...(await r.idsFor(['dog']))]).toEqual([['dog', 1]]);
    expect((await FileLabelRegistry.open(file)).labels()).toEqual(['cat', 'dog']);
  });
});
