// A counting semaphore with a FIFO queue and abortable waits. Hand-written: p-limit is
// ESM-only, async-sema has no abort support, and this is a few lines with no timers.

/** Gives the slot back; calling it more than once is harmless. */
export type Release = () => void;

export class Semaphore {
  private active = 0;
  private readonly queue: Array<{ grant: (release: Release) => void }> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`semaphore limit must be an integer >= 1, got ${limit}`);
  }

  /** Slots in use. */
  get inUse(): number {
    return this.active;
  }

  /** Callers queued for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** A slot now, or undefined when all are taken (never queues). */
  tryAcquire(): Release | undefined {
    // Queued callers come first, so a tryAcquire cannot overtake them.
    if (this.active >= this.limit || this.queue.length > 0) return undefined;
    this.active += 1;
    return this.releaser();
  }

  /**
   * Resolves with a release function once a slot is free (first come, first served).
   * If `signal` aborts while queued, rejects with its reason and leaves the queue.
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Release>((resolve, reject) => {
      const entry = {
        grant: (release: Release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
    });
  }

  /** Runs `fn` holding a slot, releasing it however `fn` ends. */
  async run<T>(fn: () => Promise<T> | T, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private releaser(): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.queue.shift();
      // Hand the slot straight to the next waiter so the count never dips and lets a
      // tryAcquire jump the queue.
      if (next) next.grant(this.releaser());
      else this.active -= 1;
    };
  }
}
