// Groups across requests: trainers that post one sample per request (OpenRLHF) still get
// GRPO groups of the size they sample, built here by prompt.
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../core/errors';
import { deterministicId, sha256Hex } from '../../core/ids';
import type { ReasoningRollout } from '../../schemas/generated/types';
import { rolloutsFromRequest, type GetRewardRequest, type RolloutMapping } from './reward-request';

export interface RolloutGroupingOptions {
  /**
   * Samples the trainer draws per prompt (OpenRLHF `--rollout.n_samples_per_prompt`, verl
   * `actor_rollout_ref.rollout.n`, TRL `num_generations`). A request with fewer samples of a
   * prompt than this adds them to that prompt's open group; one with at least this many is
   * a group of its own, as before. 1 turns grouping across requests off.
   */
  groupSize: number;
  /**
   * An open group takes no new member this long after its first one; later samples of the
   * prompt open a new group. The reward-group node's `timeoutMs`, after which it emits the
   * group partial.
   */
  windowMs: number;
  /** How long members are remembered so a retried request gets its rollout ids again (default max(windowMs, 10 min)). */
  rememberMs?: number;
  /** Group ids derive from it (default: a fresh id per grouper, so two runs never share ids). */
  runId?: string;
  /** The grouper's clock (tests). */
  now?: () => number;
}

interface Member {
  readonly rolloutId: string;
  readonly responseHash: string;
  /** held: its request is waiting; done: answered; released: its request failed, a retry takes it back. */
  state: 'held' | 'done' | 'released';
}

interface Group {
  readonly id: string;
  readonly size: number;
  readonly openedAt: number;
  touchedAt: number;
  readonly members: Member[];
}

interface PromptGroups {
  /** The group that takes this prompt's next sample. */
  open: Group | null;
  /** Full or expired groups, remembered for retries. */
  closed: Group[];
}

/** Rollouts for one request, and what to call when its answer is settled. */
export interface Assignment {
  rollouts: ReasoningRollout[];
  /** ok: the request got its rewards; otherwise a retry of it gets the same rollout ids. */
  settle(ok: boolean): void;
}

const PRUNE_EVERY_MS = 1_000;

/**
 * Groups rollouts across requests by prompt. OpenRLHF posts one sample per request, so each
 * GRPO group of n samples arrives as n requests; the grouper puts them into one group of
 * `groupSize`, which the reward-group node emits complete once all n have their records (or
 * partial after its timeout). Every request is still answered with its own rewards as soon
 * as their records exist: nothing waits for the rest of its group.
 *
 * Ids are deterministic: a group's id derives from the run id, the group's sequence number
 * in this grouper and the prompt; a member's rollout id from the group id, the response and
 * how many members before it had the same response. A request that failed (an error answer,
 * or the client went away) releases its members, and a retry with the same prompt and
 * response takes them back, rollout ids included, so the reward-group node counts the
 * sample once. A request that got its rewards does not release them: the same response
 * again is another sample (two samples of a prompt can be identical).
 */
export class RolloutGrouper {
  readonly runId: string;
  private readonly byPrompt = new Map<string, PromptGroups>();
  private seq = 0;
  private lastPrune = 0;
  private readonly now: () => number;
  private readonly rememberMs: number;

  constructor(private readonly opts: RolloutGroupingOptions) {
    if (!Number.isInteger(opts.groupSize) || opts.groupSize < 1) throw new ConfigError(`group size must be an integer >= 1, got ${opts.groupSize}`);
    this.runId = opts.runId ?? randomUUID();
    this.now = opts.now ?? Date.now;
    this.rememberMs = opts.rememberMs ?? Math.max(opts.windowMs, 600_000);
  }

  get groupSize(): number {
    return this.opts.groupSize;
  }

  /** Prompts with an open or remembered group. */
  get prompts(): number {
    return this.byPrompt.size;
  }

  assign(req: GetRewardRequest, m: RolloutMapping): Assignment {
    const base = rolloutsFromRequest(req, m);
    const prompts = req.prompts;
    const n = this.opts.groupSize;
    if (!prompts || n <= 1) return { rollouts: base, settle: () => undefined };
    const counts = new Map<string, number>();
    for (const p of prompts) counts.set(p, (counts.get(p) ?? 0) + 1);
    const claimed: Member[] = [];
    const groups = new Set<Group>();
    const rollouts = base.map((r, i) => {
      const prompt = prompts[i]!;
      // No prompt says nothing about the group; a whole group (or more) in one request is its own.
      if (!prompt || counts.get(prompt)! >= n) return r;
      const { group, member } = this.claim(prompt, r.response);
      claimed.push(member);
      groups.add(group);
      const lineage = { ...r.lineage, versions: { ...r.lineage.versions, 'endpoint.run': this.runId } };
      return { ...r, id: member.rolloutId, groupId: group.id, groupSize: group.size, lineage };
    });
    let settled = false;
    return {
      rollouts,
      settle: (ok) => {
        if (settled) return;
        settled = true;
        const at = this.now();
        for (const member of claimed) member.state = ok ? 'done' : 'released';
        for (const g of groups) g.touchedAt = at;
      },
    };
  }

  private claim(prompt: string, response: string): { group: Group; member: Member } {
    const now = this.now();
    this.prune(now);
    const key = sha256Hex(prompt);
    let pg = this.byPrompt.get(key);
    if (!pg) this.byPrompt.set(key, (pg = { open: null, closed: [] }));
    const hash = sha256Hex(response);
    // A retry: a member whose request failed, with this very response, newest group first.
    for (const g of [pg.open, ...[...pg.closed].reverse()]) {
      const member = g?.members.find((x) => x.state === 'released' && x.responseHash === hash);
      if (g && member) {
        member.state = 'held';
        g.touchedAt = now;
        return { group: g, member };
      }
    }
    if (pg.open && now - pg.open.openedAt >= this.opts.windowMs) {
      pg.closed.push(pg.open);
      pg.open = null;
    }
    const g = (pg.open ??= {
      id: deterministicId('grp', this.runId, this.seq++, prompt),
      size: this.opts.groupSize,
      openedAt: now,
      touchedAt: now,
      members: [],
    });
    const same = g.members.filter((x) => x.responseHash === hash).length;
    const member: Member = { rolloutId: deterministicId('ro', g.id, hash, same), responseHash: hash, state: 'held' };
    g.members.push(member);
    g.touchedAt = now;
    if (g.members.length >= g.size) {
      pg.closed.push(g);
      pg.open = null;
    }
    return { group: g, member };
  }

  /** Forgets groups nobody can retry into any more. */
  private prune(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    const keep = (g: Group) => now - g.touchedAt < this.rememberMs || g.members.some((x) => x.state === 'held');
    for (const [key, pg] of this.byPrompt) {
      if (pg.open && now - pg.open.openedAt >= this.opts.windowMs) {
        pg.closed.push(pg.open);
        pg.open = null;
      }
      pg.closed = pg.closed.filter(keep);
      if (!pg.open && pg.closed.length === 0) this.byPrompt.delete(key);
    }
  }
}
