import { partitionLag } from '../../runtime/metrics/lag';
import { formatStatus } from './status';

describe('status', () => {
  it('counts lag from the committed offset, or from the first retained record before any commit', () => {
    const lag = (committed: bigint | null, low: bigint, high: bigint) => Number(partitionLag({ committed, low, high }));
    expect(lag(10n, 0n, 10n)).toBe(0); // caught up (the commit is past the last marker)
    expect(lag(4n, 0n, 10n)).toBe(6);
    expect(lag(null, 3n, 10n)).toBe(7); // no commit yet: all retained records
    expect(lag(1n, 5n, 10n)).toBe(5); // committed below the retention start
  });

  it('prints each node with its group, members, partitions and the dead letters by reason', () => {
    const text = formatStatus(
      [
        {
          node: 'verify',
          group: 'valor.verify',
          state: 'Stable',
          members: ['valor-stream@/10.0.0.5'],
          input: 'valor.detector-proposals',
          partitions: [{ partition: 0, committed: 7, end: 9, lag: 2 }],
          lag: 2,
        },
      ],
      [{ node: 'detect', errorClass: 'ImageRefusedError', pattern: 'p', count: 3, example: 'image refused (a.png): file not found' }],
      Date.UTC(2026, 11, 1),
    );
    expect(text).toMatch(/^verify: group valor\.verify \(Stable, 1 member\), lag 2 on valor\.detector-proposals/);
    expect(text).toMatch(/partition 0: committed 7 of 9, lag 2/);
    expect(text).toMatch(/3 × detect ImageRefusedError: image refused/);
  });
});
