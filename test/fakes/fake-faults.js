"use strict";
// Fault injection shared by the fake model servers: latency, 500s, 429 bursts and storms,
// hangs, malformed answers and outages. Every random choice comes from a seeded RNG, so a
// test that sends requests in the same order sees the same faults; every knob can change
// while the server runs (outage, then recovery).
Object.defineProperty(exports, "__esModule", { value: true });
exports.FaultInjector = exports.SeededRng = void 0;
exports.malformAnswer = malformAnswer;
exports.sleepUnlessClosed = sleepUnlessClosed;
/** mulberry32: tiny, fast and good enough to pick faults. */
class SeededRng {
    state;
    constructor(seed) {
        this.state = seed >>> 0;
    }
    /** Uniform in [0, 1). */
    next() {
        this.state = (this.state + 0x6d2b79f5) >>> 0;
        let t = this.state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }
}
exports.SeededRng = SeededRng;
const emptyCounters = () => ({ requests: 0, byStatus: {}, served: 0, hangs: 0, malformed: 0, byEndpoint: {} });
/** Text that no JSON parser accepts: the first half of the answer, as if cut off. */
function malformAnswer(text) {
    const half = text.slice(0, Math.ceil(text.length / 2));
    // A half that is itself JSON ("12" of "1234") gets a dangling comma, which never parses.
    try {
        JSON.parse(half);
        return `${half} ,`;
    }
    catch {
        return half.length > 0 ? half : '{"truncated":';
    }
}
class FaultInjector {
    counters = emptyCounters();
    opts;
    rng;
    /** Requests that reached the rate-limit stage, for the every/burst windows. */
    rateLimitSeq = 0;
    storm = { left: 0, retryAfterS: 1 };
    hangsQueued = 0;
    malformedQueued = 0;
    failQueue = [];
    downRetryAfterS;
    constructor(opts = {}) {
        this.opts = { ...opts };
        this.rng = new SeededRng(opts.seed ?? 1);
    }
    /** Changes knobs while running; a new seed restarts the RNG. */
    set(opts) {
        this.opts = { ...this.opts, ...opts };
        if (opts.seed !== undefined)
            this.rng = new SeededRng(opts.seed);
    }
    get options() {
        return this.opts;
    }
    /** Outage (503 to everything, with Retry-After when given) and recovery. */
    setDown(down, retryAfterS) {
        this.opts.down = down;
        this.downRetryAfterS = down ? retryAfterS : undefined;
    }
    /** The next `count` requests get 429 with Retry-After: retryAfterS. */
    startRateLimitStorm(count, retryAfterS = 1) {
        this.storm = { left: count, retryAfterS };
    }
    hangNext(n = 1) {
        this.hangsQueued += n;
    }
    malformedNext(n = 1) {
        this.malformedQueued += n;
    }
    /** The next `n` requests get `status` (e.g. 400, 401). */
    failNext(n = 1, status = 500) {
        for (let i = 0; i < n; i++)
            this.failQueue.push(status);
    }
    /** Forgets counters and queued faults; keeps the options. */
    reset() {
        Object.assign(this.counters, emptyCounters());
        this.rateLimitSeq = 0;
        this.storm = { left: 0, retryAfterS: 1 };
        this.hangsQueued = 0;
        this.malformedQueued = 0;
        this.failQueue = [];
        this.rng = new SeededRng(this.opts.seed ?? 1);
    }
    /** Counts a parsed request. */
    noteRequest(endpoint) {
        this.counters.requests++;
        this.endpoint(endpoint).requests++;
    }
    noteStatus(status) {
        this.counters.byStatus[status] = (this.counters.byStatus[status] ?? 0) + 1;
    }
    noteServed(endpoint, malformed) {
        this.counters.served++;
        if (malformed)
            this.counters.malformed++;
        this.endpoint(endpoint).served++;
    }
    noteHang() {
        this.counters.hangs++;
    }
    /** The latency for one request; the RNG is drawn only when jitter is on. */
    latencyMs() {
        const jitter = this.opts.latencyJitterMs ? this.rng.next() * this.opts.latencyJitterMs : 0;
        return (this.opts.latencyMs ?? 0) + jitter;
    }
    /**
     * What happens to one request. Order: outage, scripted failures, hangs, 429s, 500s, then
     * an answer that may be malformed. Rates draw from the RNG only when they are non-zero,
     * so turning one knob does not shift the faults another knob produces.
     */
    decide() {
        if (this.opts.down) {
            const retryAfterMs = this.downRetryAfterS !== undefined ? this.downRetryAfterS * 1000 : undefined;
            return { kind: 'status', status: 503, reason: 'service unavailable (outage)', retryAfterMs };
        }
        const scripted = this.failQueue.shift();
        if (scripted !== undefined)
            return { kind: 'status', status: scripted, reason: 'scripted failure' };
        if (this.hangsQueued > 0) {
            this.hangsQueued--;
            return { kind: 'hang' };
        }
        if (this.opts.hangRate && this.rng.next() < this.opts.hangRate)
            return { kind: 'hang' };
        if (this.storm.left > 0) {
            this.storm.left--;
            return { kind: 'status', status: 429, reason: 'rate limit storm', retryAfterMs: this.storm.retryAfterS * 1000 };
        }
        const rl = this.opts.rateLimit;
        if (rl && rl.every > 0) {
            const pos = this.rateLimitSeq++ % rl.every;
            if (pos >= rl.every - rl.burst)
                return { kind: 'status', status: 429, reason: 'rate limited', retryAfterMs: (rl.retryAfterS ?? 1) * 1000 };
        }
        if (this.opts.errorRate && this.rng.next() < this.opts.errorRate)
            return { kind: 'status', status: 500, reason: 'internal error' };
        let malformed = false;
        if (this.malformedQueued > 0) {
            this.malformedQueued--;
            malformed = true;
        }
        else if (this.opts.malformedRate && this.rng.next() < this.opts.malformedRate) {
            malformed = true;
        }
        return { kind: 'answer', malformed };
    }
    endpoint(name) {
        return (this.counters.byEndpoint[name] ??= { requests: 0, served: 0 });
    }
}
exports.FaultInjector = FaultInjector;
/** Waits `ms`, or less if the client went away meanwhile. */
function sleepUnlessClosed(ms, closed) {
    if (ms <= 0)
        return Promise.resolve();
    return new Promise((resolve) => {
        const t = setTimeout(resolve, ms);
        void closed.then(() => {
            clearTimeout(t);
            resolve();
        });
    });
}
//# sourceMappingURL=fake-faults.js.map