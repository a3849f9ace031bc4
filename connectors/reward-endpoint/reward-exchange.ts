// What the reward endpoint needs from a runtime. An exchange produces rollouts to the
// rollouts topic and resolves once the reward node has written a record for each of them;
// the embedded and Kafka exchanges share the bookkeeping of who waits for which rollout
// (RewardWaiters). The request mapping is in reward-request.ts, the grouping across
// requests in rollout-grouper.ts.
import { ValorError } from '../../core/errors';
import type { ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import type { Topology } from '../../topology/topology';
import { nodeByName } from '../../topology/topology';

export interface ScoreOptions {
  /** No record for some rollout after this long: RewardTimeoutError naming them. */
  timeoutMs: number;
  /** Stops waiting (e.g. the HTTP client went away); the rollouts are still scored. */
  signal?: AbortSignal;
}

export interface RewardExchange {
  /** One reward record per rollout, in the order of `rollouts`. */
  score(rollouts: ReasoningRollout[], opts: ScoreOptions): Promise<RewardRecord[]>;
  /** Null while rollouts can be scored; otherwise why not (the endpoint answers 503). */
  down(): string | null;
  close(): Promise<void>;
}

/** Some rollouts got no reward record in time; `missing` are their ids. */
export class RewardTimeoutError extends ValorError {
  constructor(
    readonly missing: string[],
    readonly total: number,
    timeoutMs: number,
  ) {
    super(`no reward record for ${missing.length} of ${total} rollout(s) within ${timeoutMs} ms: ${listIds(missing)}`, { retriable: true });
  }
}

/** The reward node gave up on a rollout: it went to the dead-letter topic. */
export class RewardFailedError extends ValorError {
  constructor(
    readonly rolloutId: string,
    readonly reason: string,
  ) {
    super(`rollout ${rolloutId} was dead-lettered by the pipeline: ${reason}`);
  }
}

/** The pipeline cannot take rollouts now (broker unreachable, no reward node, judge down). */
export class PipelineDownError extends ValorError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { retriable: true, cause: opts.cause });
  }
}

/** The caller stopped waiting. */
export class ScoreAbortedError extends ValorError {}

function listIds(ids: string[], max = 20): string {
  return ids.length <= max ? ids.join(', ') : `${ids.slice(0, max).join(', ')} … and ${ids.length - max} more`;
}

/** The topics an exchange uses: the reward node's input and output, and the dead letters. */
export interface RewardTopics {
  rollouts: string;
  rewards: string;
  deadLetters: string;
}

export function rewardTopics(topology: Topology, node = 'reward'): RewardTopics {
  const n = nodeByName(topology, node);
  const rewards = n.outputs.rewards;
  if (!rewards) throw new Error(`node '${node}' of topology '${topology.name}' has no 'rewards' output`);
  return { rollouts: n.input, rewards, deadLetters: topology.deadLetterTopic };
}

// ---------------------------------------------------------------------------------------
// Who waits for which rollout.

interface Pending {
  readonly ids: string[];
  readonly results: Array<RewardRecord | undefined>;
  /** Positions of each id in `ids` (an id could repeat in one call). */
  readonly positions: Map<string, number[]>;
  readonly groups: string[];
  missing: number;
  settle(err: Error | null): void;
}

export interface Waiter {
  readonly promise: Promise<RewardRecord[]>;
  /** Fails the wait (e.g. the produce failed); a no-op once settled. */
  abort(err: Error): void;
}

/**
 * Pending score() calls by rollout id. `deliver` hands a reward record to whoever waits for
 * its rollout; `fail` fails them (dead letter); a wait times out naming the rollouts still
 * missing. Register the wait before producing, so no record can arrive unobserved.
 */
export class RewardWaiters {
  private readonly byId = new Map<string, Set<Pending>>();
  private readonly groupCounts = new Map<string, number>();

  wait(rollouts: ReasoningRollout[], opts: ScoreOptions, onSettled?: () => void): Waiter {
    let resolve!: (v: RewardRecord[]) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<RewardRecord[]>((res, rej) => ((resolve = res), (reject = rej)));
    const positions = new Map<string, number[]>();
    rollouts.forEach((r, i) => positions.set(r.id, [...(positions.get(r.id) ?? []), i]));
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => p.settle(new ScoreAbortedError('the caller stopped waiting for its rewards'));
    const p: Pending = {
      ids: rollouts.map((r) => r.id),
      results: rollouts.map(() => undefined),
      positions,
      groups: rollouts.map((r) => r.groupId),
      missing: positions.size,
      settle: (err) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        for (const id of positions.keys()) {
          const set = this.byId.get(id);
          set?.delete(p);
          if (set && set.size === 0) this.byId.delete(id);
        }
        for (const g of p.groups) {
          const n = (this.groupCounts.get(g) ?? 1) - 1;
          if (n <= 0) this.groupCounts.delete(g);
          else this.groupCounts.set(g, n);
        }
        onSettled?.();
        if (err) reject(err);
        else resolve(p.results as RewardRecord[]);
      },
    };
    for (const id of positions.keys()) {
      let set = this.byId.get(id);
      if (!set) this.byId.set(id, (set = new Set()));
      set.add(p);
    }
    for (const g of p.groups) this.groupCounts.set(g, (this.groupCounts.get(g) ?? 0) + 1);
    if (p.missing === 0) p.settle(null);
    else {
      timer = setTimeout(() => {
        const missing = [...positions.keys()].filter((id) => p.results[positions.get(id)![0]!] === undefined);
        p.settle(new RewardTimeoutError(missing, positions.size, opts.timeoutMs));
      }, opts.timeoutMs);
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    }
    return { promise, abort: (err) => p.settle(err) };
  }

  /** True when some wait is for a rollout of this group (records are keyed by group id). */
  wantsGroup(groupId: string): boolean {
    return this.groupCounts.has(groupId);
  }

  isWaitingFor(rolloutId: string): boolean {
    return this.byId.has(rolloutId);
  }

  get size(): number {
    return this.byId.size;
  }

  /** A reward record arrived; the first one for a rollout counts (later ones are duplicates). */
  deliver(record: RewardRecord): void {
    const set = this.byId.get(record.rolloutId);
    if (!set) return;
    for (const p of [...set]) {
      const at = p.positions.get(record.rolloutId)!;
      if (p.results[at[0]!] !== undefined) continue;
      for (const i of at) p.results[i] = record;
      if (--p.missing === 0) p.settle(null);
    }
  }

  /** The pipeline gave up on a rollout: every wait that includes it fails. */
  fail(rolloutId: string, reason: string): void {
    for (const p of [...(this.byId.get(rolloutId) ?? [])]) p.settle(new RewardFailedError(rolloutId, reason));
  }

  /** Fails every wait (shutdown). */
  failAll(err: Error): void {
    const all = new Set<Pending>();
    for (const set of this.byId.values()) for (const p of set) all.add(p);
    for (const p of all) p.settle(err);
  }
}
