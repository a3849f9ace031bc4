import { ChangelogState } from './keyed-state';

describe('ChangelogState', () => {
  it('restores the last value per key, tracks one change per key, and forgets on demand', () => {
    const s = new ChangelogState<{ n: number }>();
    expect(() => s.get(0, 'a')).toThrow(/partition 0 used before it was restored/);
    s.restore(0, [
      { key: 'a', value: { n: 1 } },
      { key: 'b', value: { n: 2 } },
      { key: 'a', value: { n: 3 } },
      { key: 'b', value: null },
    ]);
    expect(s.entries(0)).toEqual([['a', { n: 3 }]]);
    expect(s.takeChanges(0)).toEqual([]); // a restore is not a change

    s.set(0, 'c', { n: 4 });
    s.set(0, 'c', { n: 5 });
    s.delete(0, 'a');
    s.delete(0, 'never'); // deleting what is not there writes no tombstone
    expect(s.takeChanges(0)).toEqual([
      { key: 'c', value: { n: 5 } },
      { key: 'a', value: null },
    ]);
    expect(s.takeChanges(0)).toEqual([]);

    s.restore(1, []);
    s.set(1, 'x', { n: 1 });
    s.forget(1);
    expect(s.isRestored(1)).toBe(false);
    expect(s.takeChanges(1)).toEqual([]); // uncommitted changes of a forgotten partition are gone
    expect(s.restoredPartitions()).toEqual([0]);
  });
});
