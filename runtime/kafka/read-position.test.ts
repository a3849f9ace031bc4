import { ReadPosition } from './read-position';

// A batch as kafkajs hands it over: lastOffset() counts control records fetched with it.
const batch = (partition: number, lastOffset: number) => ({ partition, lastOffset: () => String(lastOffset) });

describe('ReadPosition', () => {
  it('reaches a high watermark that lies past the last record (commit markers)', () => {
    // valor.reward-groups partition 0 as written in transactions: data at 0, 2, 4, 6; markers at 1, 3, 5, 7.
    const pos = new ReadPosition('t');
    const ends = new Map([
      [0, 8n],
      [1, 0n],
    ]);
    pos.batchDone(batch(0, 5)); // records 0, 2, 4 with markers 1, 3, 5
    expect(pos.reached(ends)).toBe(false);
    pos.advance(0, 7n); // record 6 handled alone: "last record + 1" stops short of the end
    expect(pos.reached(ends)).toBe(false);
    pos.advance(0, 8n); // the marker at 7 arrives as a batch with no records
    expect(pos.reached(ends)).toBe(true);
  });

  it('never moves back', () => {
    const pos = new ReadPosition('t');
    pos.advance(0, 10n);
    pos.advance(0, 4n);
    expect(pos.of(0)).toBe(10n);
  });

  it('resolves waiters when the end is reached, and names the partitions behind when it times out', async () => {
    const pos = new ReadPosition('t');
    const done = pos.until(new Map([[0, 3n]]), 60_000, 'test');
    pos.advance(0, 3n);
    await expect(done).resolves.toBeUndefined();
    await expect(
      pos.until(
        new Map([
          [0, 3n],
          [1, 9n],
        ]),
        10,
        'export',
      ),
    ).rejects.toThrow('export: topic t not read to its end within 10 ms (partition 1: at 0 of 9)');
  });
});
