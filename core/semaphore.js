"use strict";
// A counting semaphore with a FIFO queue and abortable waits. Hand-written: p-limit is
// ESM-only, async-sema has no abort support, and this is a few lines with no timers.
Object.defineProperty(exports, "__esModule", { value: true });
exports.Semaphore = void 0;
class Semaphore {
    limit;
    active = 0;
    queue = [];
    constructor(limit) {
        this.limit = limit;
        if (!Number.isInteger(limit) || limit < 1)
            throw new RangeError(`semaphore limit must be an integer >= 1, got ${limit}`);
    }
    /** Slots in use. */
    get inUse() {
        return this.active;
    }
    /** Callers queued for a slot. */
    get waiting() {
        return this.queue.length;
    }
    /** A slot now, or undefined when all are taken (never queues). */
    tryAcquire() {
        // Queued callers come first, so a tryAcquire cannot overtake them.
        if (this.active >= this.limit || this.queue.length > 0)
            return undefined;
        this.active += 1;
        return this.releaser();
    }
    /**
     * Resolves with a release function once a slot is free (first come, first served).
     * If `signal` aborts while queued, rejects with its reason and leaves the queue.
     */
    acquire(signal) {
        const now = this.tryAcquire();
        if (now)
            return Promise.resolve(now);
        if (signal?.aborted)
            return Promise.reject(signal.reason);
        return new Promise((resolve, reject) => {
            const entry = {
                grant: (release) => {
                    signal?.removeEventListener('abort', onAbort);
                    resolve(release);
                },
            };
            const onAbort = () => {
                const i = this.queue.indexOf(entry);
                if (i >= 0)
                    this.queue.splice(i, 1);
                reject(signal.reason);
            };
            signal?.addEventListener('abort', onAbort, { once: true });
            this.queue.push(entry);
        });
    }
    /** Runs `fn` holding a slot, releasing it however `fn` ends. */
    async run(fn, signal) {
        const release = await this.acquire(signal);
        try {
            return await fn();
        }
        finally {
            release();
        }
    }
    releaser() {
        let done = false;
        return () => {
            if (done)
                return;
            done = true;
            const next = this.queue.shift();
            // Hand the slot straight to the next waiter so the count never dips and lets a
            // tryAcquire jump the queue.
            if (next)
                next.grant(this.releaser());
            else
                this.active -= 1;
        };
    }
}
exports.Semaphore = Semaphore;
//# sourceMappingURL=semaphore.js.map