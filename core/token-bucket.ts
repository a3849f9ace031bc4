// A token bucket that hands out reservations instead of blocking. Hand-written rather than
// `limiter`: we need to give tokens back or take more after a call (the real token usage
// is only known afterwards), injectable time, and no timers of its own.
//
// Reservations take tokens at once, and the balance may go negative (debt). Each caller
// gets the time it must wait before it starts, so callers are paced first come, first
// served and a large request cannot be starved by a stream of small ones.
//
// Requests larger than the capacity: such a request waits until the bucket is full,
// then goes through and leaves the bucket in debt for the rest; later callers wait the
// debt off. It never waits forever and never fails.

export interface TokenBucketOptions {
  /** Most tokens the bucket holds (the burst). */
  capacity: number;
  /** Tokens added per millisecond. */
  refillPerMs: number;
  /** Current time in ms. */
  now: () => number;
  /** Starting balance; defaults to full. */
  initial?: number;
}

export class TokenBucket {
  readonly capacity: number;
  readonly refillPerMs: number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.capacity > 0) || !Number.isFinite(opts.capacity)) throw new RangeError(`token bucket capacity must be a positive number, got ${opts.capacity}`);
    if (!(opts.refillPerMs > 0) || !Number.isFinite(opts.refillPerMs))
      throw new RangeError(`token bucket refillPerMs must be a positive number, got ${opts.refillPerMs}`);
    this.capacity = opts.capacity;
    this.refillPerMs = opts.refillPerMs;
    this.now = opts.now;
    this.tokens = Math.min(opts.initial ?? opts.capacity, opts.capacity);
    this.last = this.now();
  }

  /** A bucket for a per-minute quota: capacity = the quota, refilled evenly over a minute. */
  static perMinute(limit: number, now: () => number): TokenBucket {
    return new TokenBucket({ capacity: limit, refillPerMs: limit / 60_000, now });
  }

  /** The balance now; negative while in debt. */
  get available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Takes `n` tokens and returns how many ms the caller must wait before it may start
   * (0 = now). A caller that then gives up should `adjust(+n)` to return them.
   */
  reserve(n: number): number {
    if (!(n >= 0) || !Number.isFinite(n)) throw new RangeError(`token bucket reserve needs a finite amount >= 0, got ${n}`);
    this.refill();
    // An oversize request only needs a full bucket, not more than the bucket can hold.
    const need = Math.min(n, this.capacity);
    const waitMs = this.tokens >= need ? 0 : (need - this.tokens) / this.refillPerMs;
    this.tokens -= n;
    return waitMs;
  }

  /**
   * Corrects a reservation once the real cost is known: positive gives tokens back,
   * negative takes more (possibly into debt). The balance never exceeds the capacity.
   */
  adjust(delta: number): void {
    if (!Number.isFinite(delta)) throw new RangeError(`token bucket adjust needs a finite amount, got ${delta}`);
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens + delta);
  }

  private refill(): void {
    const t = this.now();
    const dt = t - this.last;
    if (dt > 0) this.tokens = Math.min(this.capacity, this.tokens + dt * this.refillPerMs);
    this.last = Math.max(this.last, t);
  }
}
