import { Semaphore } from './semaphore';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('Semaphore', () => {
  it('never lets more than the limit in at once and serves waiters in order', async () => {
    const sem = new Semaphore(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    const gates: Array<() => void> = [];
    const jobs = [0, 1, 2, 3, 4].map((i) =>
      sem.run(async () => {
        order.push(i);
        active += 1;
        peak = Math.max(peak, active);
        await new Promise<void>((r) => gates.push(r));
        active -= 1;
      }),
    );
    await tick();
    expect(order).toEqual([0, 1]);
    expect(sem.inUse).toBe(2);
    expect(sem.waiting).toBe(3);
    while (gates.length > 0 || order.length < 5) {
      gates.shift()?.();
      await tick();
    }
    gates.forEach((g) => g());
    await Promise.all(jobs);
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(sem.inUse).toBe(0);
  });

  it('releases the slot when the work throws, and a second release is harmless', async () => {
    const sem = new Semaphore(1);
    await expect(sem.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(sem.inUse).toBe(0);
    const release = await sem.acquire();
    release();
    release();
    expect(sem.inUse).toBe(0);
    expect(sem.tryAcquire()).toBeDefined();
  });

  it('tryAcquire does not overtake queued callers', async () => {
    const sem = new Semaphore(1);
    const first = await sem.acquire();
    const queued = sem.acquire();
    first();
    expect(sem.tryAcquire()).toBeUndefined();
    (await queued)();
  });

  it('an aborted waiter leaves the queue with the signal reason and takes no slot', async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const ac = new AbortController();
    const waiting = sem.acquire(ac.signal);
    const next = sem.acquire();
    ac.abort(new Error('shutdown'));
    await expect(waiting).rejects.toThrow('shutdown');
    expect(sem.waiting).toBe(1);
    held();
    (await next)();
    expect(sem.inUse).toBe(0);
    await expect(sem.acquire(ac.signal)).resolves.toBeInstanceOf(Function); // free slot: no wait, no abort check needed
  });

  it('rejects a limit below 1', () => {
    expect(() => new Semaphore(0)).toThrow('semaphore limit must be an integer >= 1, got 0');
  });
});
