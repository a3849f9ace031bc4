// Spending limits for a node that calls paid model APIs (`budget` in the verify and reward
// configs). When a limit is reached the node pauses consumption and the records it already
// holds wait: nothing is dropped or dead-lettered. It resumes when the UTC hour or day
// window rolls over; a spent `usdTotal` holds until the limit is raised in config.
//
// Spend survives restarts and is shared by every instance of the node through the state
// store 'budget' (a file embedded, a compacted topic on Kafka). Each instance writes only
// its own keys, `<node>|<window>|<id>|<instanceId>`, so concurrent instances never
// overwrite each other; a window's spend is the sum over its keys.
//
// Overshoot bound: a record is admitted before its calls and its cost is known only after
// them, so the spend can pass a limit by at most the cost of the records already admitted
// when it was reached: up to `concurrency` records per instance (summed over instances,
// plus what other instances spent that this one has not read from the store yet).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../../core/clock';
import type { Logger } from '../../core/logger';
import type { FlowControl, ProcessorContext } from '../../core/processor';
import type { KeyValueStore } from '../../core/store';
import type { BudgetSpend } from '../../schemas/generated/types';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export const budgetConfig = z
  .object({
    /** USD per UTC clock hour, over every instance of the node; absent = unlimited. */
    usdPerHour: z.number().min(0).optional(),
    /** USD per UTC day. */
    usdPerDay: z.number().min(0).optional(),
    /** USD ever: once spent the node stays paused until the limit is raised. */
    usdTotal: z.number().min(0).optional(),
    /**
     * Longest a paused node waits before it re-reads the clock and the shared spend: it
     * bounds how late a resume can be when the wall clock jumps (or a test clock moves).
     */
    recheckMs: z.number().int().min(10).max(HOUR_MS).default(60_000),
  })
  .strict();
export type BudgetConfig = z.infer<typeof budgetConfig>;

type WindowKind = 'hour' | 'day' | 'total';

interface Window {
  kind: WindowKind;
  /** Key prefix of every instance's share of this window. */
  prefix: string;
  limit?: number;
  /** When the window ends (epoch ms); Infinity for the total. */
  end: number;
}

export interface SpendingGuardOptions {
  node: string;
  config: BudgetConfig;
  clock: Clock;
  flow: FlowControl;
  /** Opened on first use: a node without limits never creates the store. */
  store: () => Promise<KeyValueStore<BudgetSpend>>;
  logger: Logger;
  /** This process's id in the store keys; a new UUID per start by default. */
  instanceId?: string;
}

const usd = (v: number) => `$${v >= 1 ? v.toFixed(2) : v.toFixed(4)}`;

export class SpendingGuard {
  readonly instanceId: string;
  /** What this instance spent per window prefix (the value of its own key). */
  private readonly own = new Map<string, number>();
  private reason: string | null = null;
  private waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> = Promise.resolve();
  private writes: Promise<void> = Promise.resolve();
  private closed = false;
  private opened: Promise<KeyValueStore<BudgetSpend>> | undefined;

  constructor(private readonly opts: SpendingGuardOptions) {
    this.instanceId = opts.instanceId ?? randomUUID();
    // A node restarted over its limit pauses before it takes a record.
    if (this.limited) void this.check().catch((err) => opts.logger.warn({ error: String(err) }, 'budget check failed'));
  }

  private store(): Promise<KeyValueStore<BudgetSpend>> {
    return (this.opened ??= this.opts.store());
  }

  get limited(): boolean {
    const c = this.opts.config;
    return c.usdPerHour !== undefined || c.usdPerDay !== undefined || c.usdTotal !== undefined;
  }

  /** Why the node is paused for budget, or null. */
  get pausedReason(): string | null {
    return this.reason;
  }

  /** Waits until the budget allows another record's calls; rejects when `signal` aborts. */
  async admit(signal?: AbortSignal): Promise<void> {
    if (!this.limited) return;
    await this.check();
    if (!this.reason) return;
    await new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      this.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Adds a record's cost (after its calls), durably, then re-decides pause/resume. */
  async record(costUsd: number): Promise<void> {
    if (!this.limited || !(costUsd > 0)) return;
    const now = this.opts.clock.now();
    const windows = this.windows(now);
    const current = new Set(windows.map((w) => w.prefix));
    for (const prefix of this.own.keys()) if (!current.has(prefix)) this.own.delete(prefix);
    for (const w of windows) this.own.set(w.prefix, (this.own.get(w.prefix) ?? 0) + costUsd);
    const store = await this.store();
    // Serialised, and each write carries the latest sum: a slow put never lands an older value last.
    const write = this.writes.then(async () => {
      await Promise.all(windows.map((w) => store.put(w.prefix + this.instanceId, { usd: this.own.get(w.prefix) ?? 0, updatedAt: now })));
    });
    this.writes = write.catch(() => undefined);
    await write;
    await this.check();
  }

  /** Pauses when a window's spend reached its limit, resumes when none has; checks run one at a time. */
  check(): Promise<void> {
    const run = this.checking.then(() => this.evaluate());
    this.checking = run.catch(() => undefined);
    return run;
  }

  /** The close step: stops the recheck timer; records still waiting (none after a clean stop) fail. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.waiters.splice(0)) w.reject(new Error(`node ${this.opts.node} closed while paused for budget`));
  }

  private windows(now: number): Window[] {
    const iso = new Date(now).toISOString();
    const base = `${this.opts.node}|`;
    const c = this.opts.config;
    return [
      { kind: 'hour', prefix: `${base}hour|${iso.slice(0, 13)}|`, limit: c.usdPerHour, end: (Math.floor(now / HOUR_MS) + 1) * HOUR_MS },
      { kind: 'day', prefix: `${base}day|${iso.slice(0, 10)}|`, limit: c.usdPerDay, end: (Math.floor(now / DAY_MS) + 1) * DAY_MS },
      { kind: 'total', prefix: `${base}total||`, limit: c.usdTotal, end: Infinity },
    ];
  }

  /** Every instance's spend in a window: the others' keys as last read, ours as we know it. */
  private async spent(store: KeyValueStore<BudgetSpend>, prefix: string): Promise<number> {
    const mine = prefix + this.instanceId;
    let sum = this.own.get(prefix) ?? 0;
    for (const key of store.keys(prefix)) if (key !== mine) sum += (await store.get(key))?.usd ?? 0;
    return sum;
  }

  private async evaluate(): Promise<void> {
    if (this.closed) return;
    const store = await this.store();
    const now = this.opts.clock.now();
    // Of the limits reached, the one that lifts last decides when to resume.
    let over: { w: Window; spent: number } | undefined;
    for (const w of this.windows(now)) {
      if (w.limit === undefined) continue;
      const spent = await this.spent(store, w.prefix);
      if (spent >= w.limit && (!over || w.end > over.w.end)) over = { w, spent };
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!over) {
      if (this.reason) {
        this.opts.logger.info({ node: this.opts.node }, 'budget window rolled over; resuming');
        this.reason = null;
        this.opts.flow.resume();
        for (const w of this.waiters.splice(0)) w.resolve();
      }
      return;
    }
    const { w, spent } = over;
    const per = w.kind === 'total' ? 'total' : `per ${w.kind}`;
    const when = w.kind === 'total' ? 'resumes when usdTotal is raised' : `resumes at ${new Date(w.end).toISOString()}`;
    const reason = `budget: ${usd(spent)} of ${usd(w.limit!)} ${per} spent; ${when}`;
    if (this.reason === null) this.opts.logger.warn({ node: this.opts.node, window: w.prefix, spentUsd: spent, limitUsd: w.limit }, reason);
    this.reason = reason;
    this.opts.flow.pause(reason);
    // Real time may drift from the clock over an hour (or a test clock jumps): recheck at least every recheckMs.
    this.timer = setTimeout(
      () => void this.check().catch((err) => this.opts.logger.warn({ error: String(err) }, 'budget check failed')),
      Math.max(0, Math.min(w.end - now, this.opts.config.recheckMs)),
    );
    this.timer.unref?.();
  }
}

/**
 * Gives each reason to pause (provider outage, budget) its own handle on one FlowControl:
 * the node stays paused while any of them holds, so a budget window rolling over does not
 * resume a node whose provider is still down, and vice versa.
 */
export function flowSources(flow: FlowControl): (source: string) => FlowControl {
  const reasons = new Map<string, string>();
  const apply = () => (reasons.size ? flow.pause([...reasons.values()].join('; ')) : flow.resume());
  return (source) => ({
    pause: (reason) => {
      reasons.set(source, reason);
      apply();
    },
    resume: () => {
      if (reasons.delete(source)) apply();
    },
    paused$: flow.paused$,
  });
}

/** The node's guard on the store 'budget', pausing through `flow` (one of flowSources), closed with the node. */
export function nodeSpendingGuard(ctx: ProcessorContext, config: BudgetConfig, flow: FlowControl): SpendingGuard {
  const guard = new SpendingGuard({
    node: ctx.node,
    config,
    clock: ctx.clock,
    flow,
    store: () => ctx.stores.open('budget', 'BudgetSpend'),
    logger: ctx.logger,
  });
  // Without limits it never holds a timer or a record: nothing to release.
  if (guard.limited) ctx.onClose(() => guard.close());
  return guard;
}
