// Fault injection shared by the fake model servers: latency, 500s, 429 bursts and storms,
// hangs, malformed answers and outages. Every random choice comes from a seeded RNG, so a
// test that sends requests in the same order sees the same faults; every knob can change
// while the server runs (outage, then recovery).

/** mulberry32: tiny, fast and good enough to pick faults. */
export class SeededRng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export interface FaultOptions {
  seed?: number;
  /** Added before every answer or error. */
  latencyMs?: number;
  /** Uniform extra latency in [0, latencyJitterMs). */
  latencyJitterMs?: number;
  /** Share of requests answered HTTP 500. */
  errorRate?: number;
  /** In every window of `every` requests, the last `burst` are answered 429. */
  rateLimit?: { every: number; burst: number; retryAfterS?: number };
  /** Share of requests accepted and never answered (until the client goes away). */
  hangRate?: number;
  /** Share of answers replaced by text that is not valid JSON (HTTP 200). */
  malformedRate?: number;
  /** 503 to everything. */
  down?: boolean;
}

export type FaultDecision =
  { kind: 'answer'; malformed: boolean } | { kind: 'status'; status: number; reason: string; retryAfterMs?: number } | { kind: 'hang' };

export interface EndpointCounters {
  requests: number;
  served: number;
}

export interface FaultCounters {
  /** Every request the fake parsed, whatever happened to it. */
  requests: number;
  /** Responses sent, by HTTP status. */
  byStatus: Record<number, number>;
  /** Answers the model "gave" (HTTP 200 with an answer, malformed ones included). */
  served: number;
  hangs: number;
  malformed: number;
  byEndpoint: Record<string, EndpointCounters>;
}

const emptyCounters = (): FaultCounters => ({ requests: 0, byStatus: {}, served: 0, hangs: 0, malformed: 0, byEndpoint: {} });

/** Text that no JSON parser accepts: the first half of the answer, as if cut off. */
export function malformAnswer(text: string): string {
  const half = text.slice(0, Math.ceil(text.length / 2));
  // A half that is itself JSON ("12" of "1234") gets a dangling comma, which never parses.
  try {
    JSON.parse(half);
    return `${half} ,`;
  } catch {
    return half.length > 0 ? half : '{"truncated":';
  }
}

export class FaultInjector {
  readonly counters: FaultCounters = emptyCounters();
  private opts: FaultOptions;
  private rng: SeededRng;
  /** Requests that reached the rate-limit stage, for the every/burst windows. */
  private rateLimitSeq = 0;
  private storm = { left: 0, retryAfterS: 1 };
  private hangsQueued = 0;
  private malformedQueued = 0;
  private failQueue: number[] = [];
  private downRetryAfterS?: number;

  constructor(opts: FaultOptions = {}) {
    this.opts = { ...opts };
    this.rng = new SeededRng(opts.seed ?? 1);
  }

  /** Changes knobs while running; a new seed restarts the RNG. */
  set(opts: Partial<FaultOptions>): void {
    this.opts = { ...this.opts, ...opts };
    if (opts.seed !== undefined) this.rng = new SeededRng(opts.seed);
  }

  get options(): Readonly<FaultOptions> {
    return this.opts;
  }

  /** Outage (503 to everything, with Retry-After when given) and recovery. */
  setDown(down: boolean, retryAfterS?: number): void {
    this.opts.down = down;
    this.downRetryAfterS = down ? retryAfterS : undefined;
  }

  /** The next `count` requests get 429 with Retry-After: retryAfterS. */
  startRateLimitStorm(count: number, retryAfterS = 1): void {
    this.storm = { left: count, retryAfterS };
  }

  hangNext(n = 1): void {
    this.hangsQueued += n;
  }

  malformedNext(n = 1): void {
    this.malformedQueued += n;
  }

  /** The next `n` requests get `status` (e.g. 400, 401). */
  failNext(n = 1, status = 500): void {
    for (let i = 0; i < n; i++) this.failQueue.push(status);
  }

  /** Forgets counters and queued faults; keeps the options. */
  reset(): void {
    Object.assign(this.counters, emptyCounters());
    this.rateLimitSeq = 0;
    this.storm = { left: 0, retryAfterS: 1 };
    this.hangsQueued = 0;
    this.malformedQueued = 0;
    this.failQueue = [];
    this.rng = new SeededRng(this.opts.seed ?? 1);
  }

  /** Counts a parsed request. */
  noteRequest(endpoint: string): void {
    this.counters.requests++;
    this.endpoint(endpoint).requests++;
  }

  noteStatus(status: number): void {
    this.counters.byStatus[status] = (this.counters.byStatus[status] ?? 0) + 1;
  }

  noteServed(endpoint: string, malformed: boolean): void {
    this.counters.served++;
    if (malformed) this.counters.malformed++;
    this.endpoint(endpoint).served++;
  }

  noteHang(): void {
    this.counters.hangs++;
  }

  /** The latency for one request; the RNG is drawn only when jitter is on. */
  latencyMs(): number {
    const jitter = this.opts.latencyJitterMs ? this.rng.next() * this.opts.latencyJitterMs : 0;
    return (this.opts.latencyMs ?? 0) + jitter;
  }

  /**
   * What happens to one request. Order: outage, scripted failures, hangs, 429s, 500s, then
   * an answer that may be malformed. Rates draw from the RNG only when they are non-zero,
   * so turning one knob does not shift the faults another knob produces.
   */
  decide(): FaultDecision {
    if (this.opts.down) {
      const retryAfterMs = this.downRetryAfterS !== undefined ? this.downRetryAfterS * 1000 : undefined;
      return { kind: 'status', status: 503, reason: 'service unavailable (outage)', retryAfterMs };
    }
    const scripted = this.failQueue.shift();
    if (scripted !== undefined) return { kind: 'status', status: scripted, reason: 'scripted failure' };
    if (this.hangsQueued > 0) {
      this.hangsQueued--;
      return { kind: 'hang' };
    }
    if (this.opts.hangRate && this.rng.next() < this.opts.hangRate) return { kind: 'hang' };
    if (this.storm.left > 0) {
      this.storm.left--;
      return { kind: 'status', status: 429, reason: 'rate limit storm', retryAfterMs: this.storm.retryAfterS * 1000 };
    }
    const rl = this.opts.rateLimit;
    if (rl && rl.every > 0) {
      const pos = this.rateLimitSeq++ % rl.every;
      if (pos >= rl.every - rl.burst) return { kind: 'status', status: 429, reason: 'rate limited', retryAfterMs: (rl.retryAfterS ?? 1) * 1000 };
    }
    if (this.opts.errorRate && this.rng.next() < this.opts.errorRate) return { kind: 'status', status: 500, reason: 'internal error' };
    let malformed = false;
    if (this.malformedQueued > 0) {
      this.malformedQueued--;
      malformed = true;
    } else if (this.opts.malformedRate && this.rng.next() < this.opts.malformedRate) {
      malformed = true;
    }
    return { kind: 'answer', malformed };
  }

  /**
   * The fault for a request whose client has waited out the latency. A hang is served here:
   * it resolves once the client goes away. null means there is nothing left to send.
   */
  async decideFor(res: { destroyed: boolean }, closed: Promise<void>): Promise<Exclude<FaultDecision, { kind: 'hang' }> | null> {
    // A client that gave up while waiting takes no fault from the queue.
    if (res.destroyed) return null;
    const decision = this.decide();
    if (decision.kind !== 'hang') return decision;
    this.noteHang();
    await closed;
    return null;
  }

  private endpoint(name: string): EndpointCounters {
    return (this.counters.byEndpoint[name] ??= { requests: 0, served: 0 });
  }
}

/** Waits `ms`, or less if the client went away meanwhile. */
export function sleepUnlessClosed(ms: number, closed: Promise<void>): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    void closed.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
