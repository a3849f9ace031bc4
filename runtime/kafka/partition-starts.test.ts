import { silentLogger } from '../../core/logger';
import { PartitionStarts } from './partition-starts';

/** Deps whose committed-offset reads answer from a script, recording the order of calls. */
function scripted(reads: Array<bigint | undefined>) {
  const calls: string[] = [];
  const deps = {
    log: silentLogger,
    readGapMs: 1,
    settleTransactions: async (p: number) => void calls.push(`settle ${p}`),
    readCommitted: async (p: number) => {
      calls.push(`read ${p}`);
      return reads.length > 1 ? reads.shift() : reads[0];
    },
  };
  return { deps, calls };
}

describe('PartitionStarts: where a partition may start', () => {
  it('never lets a stale committed-offset read undo what this process committed', async () => {
    // The broker still answers the offset before our last commit (markers not yet written).
    const { deps } = scripted([0n]);
    const starts = new PartitionStarts(deps);
    starts.committed(1, 27n);
    starts.rejoined();
    expect(await starts.verify(1)).toBe(true);
    expect(starts.floorOf(1)).toBe(27n);
    expect(starts.isBelowFloor(1, '0')).toBe(true);
    expect(starts.isBelowFloor(1, '27')).toBe(false);
    expect(starts.staleStartsCaught).toBe(1);
  });

  it('settles the transactions of the partition before it reads, and reads until two reads agree', async () => {
    const { deps, calls } = scripted([10n, 27n, 27n]);
    const starts = new PartitionStarts(deps);
    expect(await starts.verify(2)).toBe(true);
    expect(calls).toEqual(['settle 2', 'read 2', 'read 2', 'read 2']);
    expect(starts.floorOf(2)).toBe(27n);
  });

  it('takes a committed offset that another member moved further', async () => {
    const { deps } = scripted([90n]);
    const starts = new PartitionStarts(deps);
    starts.committed(0, 40n);
    starts.rejoined();
    await starts.verify(0);
    expect(starts.floorOf(0)).toBe(90n);
  });

  it('does not trust a verification that a rebalance interrupted', async () => {
    const { deps } = scripted([5n]);
    const starts: PartitionStarts = new PartitionStarts({ ...deps, settleTransactions: async () => starts.rejoined() });
    expect(await starts.verify(0)).toBe(false);
  });

  it('verifies once per generation, and again after a rejoin or a failed commit', async () => {
    const { deps, calls } = scripted([3n]);
    const starts = new PartitionStarts(deps);
    await starts.verify(0);
    await starts.verify(0);
    expect(calls.filter((c) => c.startsWith('settle'))).toHaveLength(1);
    starts.invalidate(0);
    await starts.verify(0);
    starts.rejoined();
    await starts.verify(0);
    expect(calls.filter((c) => c.startsWith('settle'))).toHaveLength(3);
  });

  it('knows no floor for a partition nobody committed', async () => {
    const { deps } = scripted([undefined]);
    const starts = new PartitionStarts(deps);
    expect(await starts.verify(3)).toBe(true);
    expect(starts.floorOf(3)).toBeUndefined();
    expect(starts.isBelowFloor(3, '0')).toBe(false);
  });
});
