import { whileBeating } from './batch-heartbeat';

describe('whileBeating', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('beats while the work is waiting and stops when it is done', async () => {
    let beats = 0;
    let finish!: (v: string) => void;
    const done = whileBeating(
      async () => void beats++,
      500,
      () => new Promise<string>((r) => (finish = r)),
    );
    await jest.advanceTimersByTimeAsync(2_600);
    expect(beats).toBe(5);
    finish('ok');
    await expect(done).resolves.toBe('ok');
    await jest.advanceTimersByTimeAsync(5_000);
    expect(beats).toBe(5);
  });

  it('keeps beating past a failed beat (a rebalance is kafkajs business) and stops when the work fails', async () => {
    let beats = 0;
    let fail!: (e: Error) => void;
    const done = whileBeating(
      async () => {
        beats++;
        throw new Error('The group is rebalancing');
      },
      1_000,
      () => new Promise<void>((_, reject) => (fail = reject)),
    );
    await jest.advanceTimersByTimeAsync(3_100);
    expect(beats).toBe(3);
    fail(new Error('commit failed'));
    await expect(done).rejects.toThrow('commit failed');
    await jest.advanceTimersByTimeAsync(3_000);
    expect(beats).toBe(3);
  });
});
