// Wake-ups between the consumer's two sides: whoever changes shared state calls notify(),
// and a waiter wakes on the next change or at its own deadline (a batch window, a pause
// timeout), whichever is first.
export class Wakeups {
  private waiters: Array<() => void> = [];

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves on the next notify() or after `ms`, whichever is first. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }
}
