// The compact index: box-level filters over (category, status/stage) tags, version filters,
// and the audit order, a seeded permutation whose restriction to a filter keeps its order.
import { ReviewIndex, type IndexFilter } from './review-index';

const any: IndexFilter = { category: -1, status: 'any', stage: 0, version: -1 };

describe('ReviewIndex', () => {
  const idx = new ReviewIndex();
  const cat = idx.categoryId('cat');
  const dog = idx.categoryId('dog');
  const v1 = idx.versionId('v1');
  const v2 = idx.versionId('v2');
  // 0: cat accepted, dog rejected at CROP; 1: dog accepted; 2: cat rejected by a person; 3: nothing.
  idx.add(0, 10, [cat * 8, dog * 8 + 2], [v1]);
  idx.add(11, 10, [dog * 8], [v2]);
  idx.add(22, 10, [cat * 8 + 4], [v1, v2]);
  idx.add(33, 10, [], [v2]);
  const ids = (f: Partial<IndexFilter>, seed?: number) => [...idx.filter({ ...any, ...f }, seed)];

  it('matches a record when one box matches every box filter', () => {
    expect(ids({})).toEqual([0, 1, 2, 3]);
    expect(ids({ category: cat })).toEqual([0, 2]);
    expect(ids({ status: 'accepted' })).toEqual([0, 1]);
    expect(ids({ status: 'rejected' })).toEqual([0, 2]);
    expect(ids({ stage: 2 })).toEqual([0]);
    expect(ids({ category: cat, stage: 2 })).toEqual([]); // the CROP box is a dog
    expect(ids({ category: dog, status: 'accepted' })).toEqual([1]);
    expect(ids({ version: v2 })).toEqual([1, 2, 3]);
    expect(ids({ category: idx.categoryId('wolf', false) })).toEqual([]);
    expect(idx.line(2)).toEqual({ offset: 22, length: 10 });
  });

  it('re-tags a record', () => {
    idx.set(1, [dog * 8 + 4], [v2]);
    expect(ids({ status: 'accepted' })).toEqual([0]);
    idx.set(1, [dog * 8], [v2]);
  });

  it('orders a large set by a seeded permutation, the same for a seed, restricted in order by filters', () => {
    const big = new ReviewIndex();
    const c = big.categoryId('c');
    for (let i = 0; i < 5000; i++) big.add(i * 10, 9, [c * 8 + (i % 3 === 0 ? 0 : 1)], []);
    const order = [...big.auditOrder(42)];
    expect(new Set(order).size).toBe(5000);
    expect(Math.min(...order)).toBe(0);
    expect(Math.max(...order)).toBe(4999);
    expect([...big.auditOrder(42)]).toEqual(order);
    expect([...big.auditOrder(43)]).not.toEqual(order);
    // Not the identity, and not a rotation of it: about half of neighbours go up.
    const ups = order.slice(1).filter((x, i) => x > order[i]!).length;
    expect(ups / 4999).toBeGreaterThan(0.45);
    expect(ups / 4999).toBeLessThan(0.55);
    const accepted = [...big.filter({ ...any, status: 'accepted' }, 42)];
    expect(accepted).toEqual(order.filter((i) => i % 3 === 0));
    // The first 10% of the order is a fair sample: the share of accepted records in it is near 1/3.
    const head = order.slice(0, 500).filter((i) => i % 3 === 0).length / 500;
    expect(Math.abs(head - 1 / 3)).toBeLessThan(0.07);
  });
});
