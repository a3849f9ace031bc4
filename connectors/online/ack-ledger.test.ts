// The commit rules on their own, without kafkajs: what an ack may commit, per partition.
import { AckLedger, commitEnds } from './ack-ledger';

const items = (...specs: Array<[number, number]>) => specs.map(([partition, offset]) => ({ partition, offset: String(offset) }));

describe('commitEnds', () => {
  it('gives one past the last offset of each partition, in the order partitions first appear', () => {
    expect([...commitEnds(items([1, 4], [0, 7], [1, 5], [0, 9]))]).toEqual([
      [1, 6n],
      [0, 10n],
    ]);
    expect(commitEnds([])).toEqual(new Map());
  });

  it('keeps offsets beyond what a double holds exact', () => {
    expect(commitEnds([{ partition: 0, offset: '9007199254740993' }]).get(0)).toBe(9007199254740994n);
  });
});

describe('AckLedger', () => {
  it('commits one past the end of an acked batch, per partition it touched', () => {
    const l = new AckLedger();
    const t = l.cut(1, commitEnds(items([0, 0], [0, 1], [2, 5])));
    expect(t).toEqual({ seq: 1, generation: 0, partitions: [0, 2] });
    expect(l.pending()).toEqual([]); // nothing before the ack
    expect(l.ack(t)).toBe('commit');
    expect(l.pending()).toEqual([
      { partition: 0, offset: '2' },
      { partition: 2, offset: '6' },
    ]);
  });

  it('never commits past an un-acked batch when acks come out of order', () => {
    const l = new AckLedger();
    const b1 = l.cut(1, commitEnds(items([0, 0], [0, 1])));
    const b2 = l.cut(2, commitEnds(items([0, 2], [1, 0])));
    const b3 = l.cut(3, commitEnds(items([0, 3])));
    // b2 alone: partition 1 has nothing before it, partition 0 waits for b1.
    expect(l.ack(b2)).toBe('commit');
    expect(l.pending()).toEqual([{ partition: 1, offset: '1' }]);
    expect(l.ack(b3)).toBe('wait');
    expect(l.pending()).toEqual([{ partition: 1, offset: '1' }]);
    // b1 releases b2 and b3 behind it in one move.
    expect(l.ack(b1)).toBe('commit');
    expect(l.pending()).toEqual([
      { partition: 1, offset: '1' },
      { partition: 0, offset: '4' },
    ]);
  });

  it('commits past skipped records at once when no batch is out, and in order behind one that is', () => {
    const l = new AckLedger();
    expect(l.skipped(commitEnds(items([0, 0], [0, 1])))).toBe(true);
    expect(l.pending()).toEqual([{ partition: 0, offset: '2' }]);
    const b = l.cut(1, commitEnds(items([0, 2])));
    expect(l.skipped(commitEnds(items([0, 3], [0, 4])))).toBe(false); // behind b, which is un-acked
    expect(l.pending()).toEqual([{ partition: 0, offset: '2' }]);
    expect(l.ack(b)).toBe('commit');
    expect(l.pending()).toEqual([{ partition: 0, offset: '5' }]);
  });

  it('reports only targets above what was committed, and ignores a commit sent before a reset', () => {
    const l = new AckLedger();
    const b1 = l.cut(1, commitEnds(items([0, 0], [1, 0])));
    l.ack(b1);
    const sent = l.pending();
    l.committedAt(sent, l.generation);
    expect(l.pending()).toEqual([]);
    const b2 = l.cut(2, commitEnds(items([0, 1])));
    l.ack(b2);
    expect(l.pending()).toEqual([{ partition: 0, offset: '2' }]);
    // A commit that completes after a rebalance says nothing about the new generation.
    const g = l.generation;
    const late = l.pending();
    l.reset();
    l.committedAt(late, g);
    const b3 = l.cut(3, commitEnds(items([0, 1])));
    expect(l.ack(b3)).toBe('commit');
    expect(l.pending()).toEqual([{ partition: 0, offset: '2' }]);
  });

  it('makes an ack from before a rebalance stale and forgets its batches, targets and commits', () => {
    const l = new AckLedger();
    const old = l.cut(1, commitEnds(items([0, 0], [0, 1])));
    const done = l.cut(2, commitEnds(items([1, 0])));
    l.ack(done);
    expect(l.pending()).toEqual([{ partition: 1, offset: '1' }]);
    l.reset();
    expect(l.generation).toBe(1);
    expect(l.pending()).toEqual([]);
    expect(l.ack(old)).toBe('stale');
    expect(l.pending()).toEqual([]);
    // The same records, read again in the new generation, are committed from scratch.
    const again = l.cut(3, commitEnds(items([0, 0], [0, 1])));
    expect(again.generation).toBe(1);
    expect(l.ack(again)).toBe('commit');
    expect(l.pending()).toEqual([{ partition: 0, offset: '2' }]);
  });

  it('takes an ack twice as one, and an ack of a batch it never cut as nothing', () => {
    const l = new AckLedger();
    const b = l.cut(1, commitEnds(items([0, 0])));
    expect(l.ack(b)).toBe('commit');
    expect(l.ack(b)).toBe('wait');
    expect(l.ack({ seq: 9, generation: 0, partitions: [0] })).toBe('wait');
    expect(l.pending()).toEqual([{ partition: 0, offset: '1' }]);
  });
});
