"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.CircuitBreaker = exports.BreakerDisposedError = void 0;
// A circuit breaker whose callers wait while it is open instead of failing. Hand-written
// rather than opossum: opossum is fail-fast by design (rejects while open), runs on real
// timers, and its types lag its releases; waiting callers and rxjs time are the point here.
//
// closed --N consecutive failures--> open --cooldown--> half-open --probe ok--> closed
//                                      ^----------------probe failed-----------'
// While open, tryAdmit() refuses and callers await whenChanged(). In half-open exactly one
// caller (the probe) is let through; the rest wait for its result. Each failed probe
// doubles the cooldown up to maxCooldownMs; closing resets it.
const rxjs_1 = require("rxjs");
class BreakerDisposedError extends Error {
    constructor() {
        super('circuit breaker disposed while a call was waiting for it');
        this.name = 'BreakerDisposedError';
    }
}
exports.BreakerDisposedError = BreakerDisposedError;
class CircuitBreaker {
    opts;
    state$;
    subject = new rxjs_1.BehaviorSubject('closed');
    scheduler;
    failures = 0;
    generation = 0;
    cooldown;
    probeOut = false;
    halfOpenAt = 0;
    timer;
    disposed = false;
    waiters = new Set();
    constructor(opts) {
        this.opts = opts;
        if (!Number.isInteger(opts.failureThreshold) || opts.failureThreshold < 1) {
            throw new RangeError(`circuit breaker failureThreshold must be an integer >= 1, got ${opts.failureThreshold}`);
        }
        if (!(opts.cooldownMs >= 0) || !(opts.maxCooldownMs >= opts.cooldownMs)) {
            throw new RangeError(`circuit breaker needs 0 <= cooldownMs <= maxCooldownMs, got ${opts.cooldownMs} and ${opts.maxCooldownMs}`);
        }
        this.scheduler = opts.scheduler ?? rxjs_1.asyncScheduler;
        this.cooldown = opts.cooldownMs;
        // BehaviorSubject: a new subscriber (a processor pausing its consumer) sees the state at once.
        this.state$ = this.subject.pipe((0, rxjs_1.distinctUntilChanged)());
    }
    get state() {
        return this.subject.value;
    }
    get consecutiveFailures() {
        return this.failures;
    }
    /** The cooldown the next (or current) opening uses. */
    get cooldownMs() {
        return this.cooldown;
    }
    /** While open: ms until the probe may go; otherwise 0. */
    get msUntilHalfOpen() {
        return this.state === 'open' ? Math.max(0, this.halfOpenAt - this.scheduler.now()) : 0;
    }
    /** Whether tryAdmit() would give a ticket now, without claiming the probe. */
    canAdmit() {
        return this.state === 'closed' || (this.state === 'half-open' && !this.probeOut);
    }
    /** A ticket if a call may go now; undefined if it must await whenChanged(). */
    tryAdmit() {
        if (this.disposed)
            throw new BreakerDisposedError();
        switch (this.state) {
            case 'closed':
                return { probe: false, generation: this.generation };
            case 'half-open':
                if (this.probeOut)
                    return undefined;
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
    whenChanged(signal) {
        if (this.disposed)
            return Promise.reject(new BreakerDisposedError());
        if (signal?.aborted)
            return Promise.reject(signal.reason);
        return new Promise((resolve, reject) => {
            const waiter = {
                wake: () => {
                    cleanup();
                    resolve();
                },
                fail: (err) => {
                    cleanup();
                    reject(err);
                },
            };
            const onAbort = () => waiter.fail(signal.reason);
            const cleanup = () => {
                this.waiters.delete(waiter);
                signal?.removeEventListener('abort', onAbort);
            };
            signal?.addEventListener('abort', onAbort, { once: true });
            this.waiters.add(waiter);
        });
    }
    /** The server answered (success or an answer that says it is up). */
    success(ticket) {
        if (ticket.probe) {
            this.probeOut = false;
            this.failures = 0;
            this.cooldown = this.opts.cooldownMs;
            this.transition('closed');
            return;
        }
        if (this.state === 'closed' && ticket.generation === this.generation)
            this.failures = 0;
    }
    /** A failure that suggests the server is down (5xx, timeout, network). Returns true if it opened the breaker. */
    failure(ticket) {
        if (ticket.probe) {
            this.probeOut = false;
            this.cooldown = Math.min(this.opts.maxCooldownMs, this.cooldown * 2);
            this.open();
            return true;
        }
        // Stragglers admitted before the last opening say nothing new about the server.
        if (this.state !== 'closed' || ticket.generation !== this.generation)
            return false;
        this.failures += 1;
        if (this.failures >= this.opts.failureThreshold) {
            this.open();
            return true;
        }
        return false;
    }
    /** The call ended without telling anything about the server (e.g. the caller aborted). */
    release(ticket) {
        if (ticket.probe && this.probeOut && this.state === 'half-open') {
            this.probeOut = false;
            // Let another waiter become the probe.
            this.notify();
        }
    }
    /** Cancels the cooldown timer, completes state$ and fails any waiters. */
    dispose() {
        if (this.disposed)
            return;
        this.disposed = true;
        this.timer?.unsubscribe();
        const err = new BreakerDisposedError();
        for (const w of [...this.waiters])
            w.fail(err);
        this.subject.complete();
    }
    open() {
        this.generation += 1;
        this.halfOpenAt = this.scheduler.now() + this.cooldown;
        this.timer?.unsubscribe();
        // The breaker moves to half-open on its own timer, so state$ recovers even when no
        // call is waiting (a paused consumer would otherwise never send the probe).
        this.timer = this.scheduler.schedule(() => {
            this.timer = undefined;
            if (this.state === 'open')
                this.transition('half-open');
        }, this.cooldown);
        this.transition('open');
    }
    transition(to) {
        const from = this.state;
        if (from === to)
            return;
        if (to === 'closed')
            this.timer?.unsubscribe();
        this.subject.next(to);
        this.opts.onTransition?.(from, to, { failures: this.failures, cooldownMs: this.cooldown });
        this.notify();
    }
    notify() {
        for (const w of [...this.waiters])
            w.wake();
    }
}
exports.CircuitBreaker = CircuitBreaker;
//# sourceMappingURL=circuit-breaker.js.map