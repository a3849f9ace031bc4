// A circuit breaker whose callers wait while it is open instead of failing. Hand-written
// rather than opossum: opossum is fail-fast by design (rejects while open), runs on real
// timers, and its types lag its releases; waiting callers and rxjs time are the point here.
//
// closed --N consecutive failures--> open --cooldown--> half-open --probe ok--> closed
//                                      ^----------------probe failed-----------'
// While open, tryAdmit() refuses and callers await whenChanged(). In half-open exactly one
// caller (the probe) is let through; the rest wait for its result. Each failed probe
// doubles the cooldown up to maxCooldownMs; closing resets it.
import { asyncScheduler, BehaviorSubject, distinctUntilChanged, Observable, SchedulerLike, Subscription } from 'rxjs';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures (while closed) that open the breaker. */
  failureThreshold: number;
  /** First cooldown before a probe is let through. */
  cooldownMs: number;
  /** Cap of the cooldown as failed probes double it. */
  maxCooldownMs: number;
  /** Time for the cooldown timer; rxjs schedulers so tests can use virtual or fake time. */
  scheduler?: SchedulerLike;
  /** Called on every state change (after it happened), e.g. for logs and metrics. */
  onTransition?: (from: BreakerState, to: BreakerState, info: { failures: number; cooldownMs: number }) => void;
}

/** Permission for one call; hand it back with success(), failure() or release(). */
export interface BreakerTicket {
  /** This call is the half-open probe: its result decides the state. */
  readonly probe: boolean;
  /** The open-count when admitted; results of calls admitted before the last opening are ignored. */
  readonly generation: number;
}

export class BreakerDisposedError extends Error {
  constructor() {
    super('circuit breaker disposed while a call was waiting for it');
    this.name = 'BreakerDisposedError';
  }
}

export class CircuitBreaker {
  readonly state$: Observable<BreakerState>;
  private readonly subject = new BehaviorSubject<BreakerState>('closed');
  private readonly scheduler: SchedulerLike;
  private failures = 0;
  private generation = 0;
  private cooldown: number;
  private probeOut = false;
  private halfOpenAt = 0;
  private timer?: Subscription;
  private disposed = false;
  private readonly waiters = new Set<{ wake: () => void; fail: (err: unknown) => void }>();

  constructor(private readonly opts: CircuitBreakerOptions) {
    if (!Number.isInteger(opts.failureThreshold) || opts.failureThreshold < 1) {
      throw new RangeError(`circuit breaker failureThreshold must be an integer >= 1, got ${opts.failureThreshold}`);
    }
    if (!(opts.cooldownMs >= 0) || !(opts.maxCooldownMs >= opts.cooldownMs)) {
      throw new RangeError(`circuit breaker needs 0 <= cooldownMs <= maxCooldownMs, got ${opts.cooldownMs} and ${opts.maxCooldownMs}`);
    }
    this.scheduler = opts.scheduler ?? asyncScheduler;
    this.cooldown = opts.cooldownMs;
    // BehaviorSubject: a new subscriber (a processor pausing its consumer) sees the state at once.
    this.state$ = this.subject.pipe(distinctUntilChanged());
  }

  get state(): BreakerState {
    return this.subject.value;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** The cooldown the next (or current) opening uses. */
  get cooldownMs(): number {
    return this.cooldown;
  }

  /** While open: ms until the probe may go; otherwise 0. */
  get msUntilHalfOpen(): number {
    return this.state === 'open' ? Math.max(0, this.halfOpenAt - this.scheduler.now()) : 0;
  }

  /** Whether tryAdmit() would give a ticket now, without claiming the probe. */
  canAdmit(): boolean {
    return this.state === 'closed' || (this.state === 'half-open' && !this.probeOut);
  }

  /** A ticket if a call may go now; undefined if it must await whenChanged(). */
  tryAdmit(): BreakerTicket | undefined {
    if (this.disposed) throw new BreakerDisposedError();
    switch (this.state) {
      case 'closed':
        return { probe: false, generation: this.generation };
      case 'half-open':
        if (this.probeOut) return undefined;
        this.probeOut = true;
        return { probe: true, generation: this.generation };
      case 'open':
        return undefined;
    }
  }

  /**
   * Resolves at the next state change or when the probe slot frees up; rejects with the
   * signal's reason on abort, or with BreakerDisposedError on dispose().
   */
  whenChanged(signal?: AbortSignal): Promise<void> {
    if (this.disposed) return Promise.reject(new BreakerDisposedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        wake: () => {
          cleanup();
          resolve();
        },
        fail: (err: unknown) => {
          cleanup();
          reject(err);
        },
      };
      const onAbort = () => waiter.fail(signal!.reason);
      const cleanup = () => {
        this.waiters.delete(waiter);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** The server answered (success or an answer that says it is up). */
  success(ticket: BreakerTicket): void {
    if (ticket.probe) {
      this.probeOut = false;
      this.failures = 0;
      this.cooldown = this.opts.cooldownMs;
      this.transition('closed');
      return;
    }
    if (this.state === 'closed' && ticket.generation === this.generation) this.failures = 0;
  }

  /** A failure that suggests the server is down (5xx, timeout, network). Returns true if it opened the breaker. */
  failure(ticket: BreakerTicket): boolean {
    if (ticket.probe) {
      this.probeOut = false;
      this.cooldown = Math.min(this.opts.maxCooldownMs, this.cooldown * 2);
      this.open();
      return true;
    }
    // Stragglers admitted before the last opening say nothing new about the server.
    if (this.state !== 'closed' || ticket.generation !== this.generation) return false;
    this.failures += 1;
    if (this.failures >= this.opts.failureThreshold) {
      this.open();
      return true;
    }
    return false;
  }

  /** The call ended without telling anything about the server (e.g. the caller aborted). */
  release(ticket: BreakerTicket): void {
    if (ticket.probe && this.probeOut && this.state === 'half-open') {
      this.probeOut = false;
      // Let another waiter become the probe.
      this.notify();
    }
  }

  /** Cancels the cooldown timer, completes state$ and fails any waiters. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.timer?.unsubscribe();
    const err = new BreakerDisposedError();
    for (const w of [...this.waiters]) w.fail(err);
    this.subject.complete();
  }

  private open(): void {
    this.generation += 1;
    this.halfOpenAt = this.scheduler.now() + this.cooldown;
    this.timer?.unsubscribe();
    // The breaker moves to half-open on its own timer, so state$ recovers even when no
    // call is waiting (a paused consumer would otherwise never send the probe).
    this.timer = this.scheduler.schedule(() => {
      this.timer = undefined;
      if (this.state === 'open') this.transition('half-open');
    }, this.cooldown);
    this.transition('open');
  }

  private transition(to: BreakerState): void {
    const from = this.state;
    if (from === to) return;
    if (to === 'closed') this.timer?.unsubscribe();
    this.subject.next(to);
    this.opts.onTransition?.(from, to, { failures: this.failures, cooldownMs: this.cooldown });
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w.wake();
  }
}
