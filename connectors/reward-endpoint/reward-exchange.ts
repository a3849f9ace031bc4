// What the reward endpoint needs from a runtime, and the mapping from an OpenRLHF remote
// reward-model request to rollouts. An exchange produces rollouts to the rollouts topic and
// resolves once the reward node has written a record for each of them; the embedded and
// Kafka exchanges share the bookkeeping of who waits for which rollout (RewardWaiters).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, ValorError } from '../../core/errors';
import { deterministicId, sha256Hex } from '../../core/ids';
import { lineageOf } from '../../core/lineage';
import { REWARD_COMPONENTS } from '../../models/reward/reward-score';
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
  constructor(readonly missing: string[], readonly total: number, timeoutMs: number) {
    super(`no reward record for ${missing.length} of ${total} rollout(s) within ${timeoutMs} ms: ${listIds(missing)}`, { retriable: true });
  }
}

/** The reward node gave up on a rollout: it went to the dead-letter topic. */
export class RewardFailedError extends ValorError {
  constructor(readonly rolloutId: string, readonly reason: string) {
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
// The OpenRLHF remote reward-model request: {"query": [...], "prompts": [...], "labels": [...]}

export const getRewardRequestSchema = z
  .object({
    /**
     * Prompt + response per sample (OpenRLHF), or the response alone. May be empty: OpenRLHF
     * given several reward URLs shards each one-sample request across them, so all but one
     * get empty lists.
     */
    query: z.array(z.string()),
    /** The prompt of each sample; samples with the same prompt form one GRPO group. */
    prompts: z.array(z.string()).nullish(),
    /** Accepted for compatibility (OpenRLHF sends them); the judges do not use labels. */
    labels: z.array(z.unknown()).nullish(),
  })
  .superRefine((b, ctx) => {
    for (const field of ['prompts', 'labels'] as const) {
      const list = b[field];
      if (list && list.length !== b.query.length) {
        ctx.addIssue({ code: 'custom', path: [field], message: `must have as many items as query (${b.query.length}), has ${list.length}` });
      }
    }
  });
export type GetRewardRequest = z.infer<typeof getRewardRequestSchema>;

/** The body, validated; the error names the bad field (`query.2: Invalid input: expected string, received number`). */
export function parseGetRewardRequest(body: unknown): { ok: true; value: GetRewardRequest } | { ok: false; error: string } {
  const r = getRewardRequestSchema.safeParse(body);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '<body>'}: ${i.message}`).join('; ') };
}

/** The answer to /get_reward: OpenRLHF reads `scores` (else `rewards`), `rewards` and `extra_logs`. */
export interface GetRewardResponse {
  rewards: number[];
  scores: number[];
  /** One list per reward component (and `format_ok`, 1 or 0), aligned with `query`. */
  extra_logs: Record<string, number[]>;
}

/** The response body for records in query order: totals, and the components as OpenRLHF logs them. */
export function rewardResponse(records: RewardRecord[]): GetRewardResponse {
  const totals = records.map((r) => r.total);
  const extra: Record<string, number[]> = {};
  for (const c of REWARD_COMPONENTS) extra[c] = records.map((r) => r.components[c]);
  extra.format_ok = records.map((r) => (r.formatOk ? 1 : 0));
  return { rewards: totals, scores: totals, extra_logs: extra };
}

// A tokenizer may put a BOS token (or a few) before the decoded prompt.
const MAX_PREFIX_BEFORE_PROMPT = 64;
// A prompt cut from the left (OpenRLHF keeps the last tokens of a prompt that is too long)
// is recognised from this many characters on, so a response cannot match it by chance.
const MIN_PROMPT_TAIL = 32;
// Characters a cut through a multi-byte character can leave before the prompt's tail.
const MAX_GARBLED_HEAD = 4;

/**
 * How the prompt was found in a query: `exact` (at the start, after at most a BOS's worth of
 * characters), `loose` (the same up to whitespace, as a tokenizer's decode can change it),
 * `truncated` (the query starts with the prompt's tail: the trainer cut the prompt from the
 * left), `absent` (the query is the response alone, as verl and TRL send it; or no prompt).
 */
export type PromptMatch = 'exact' | 'loose' | 'truncated' | 'absent';

const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

/** End of a whitespace-insensitive match of `prompt` near the start of `query`, or null. */
function looseEnd(query: string, prompt: string): number | null {
  const p = prompt.trim();
  if (!p) return null;
  for (let start = 0; start <= MAX_PREFIX_BEFORE_PROMPT && start < query.length; start++) {
    if (query[start] !== p[0]) continue;
    let i = start;
    let k = 0;
    for (; k < p.length; k++) {
      if (isSpace(p[k])) continue;
      while (isSpace(query[i])) i++;
      if (query[i] !== p[k]) break;
      i++;
    }
    if (k < p.length) continue;
    if (prompt.length > prompt.trimEnd().length) while (isSpace(query[i])) i++;
    return i;
  }
  return null;
}

/** End of the prompt's tail when the query starts with it (the prompt was cut from the left), or null. */
function truncatedEnd(query: string, prompt: string): number | null {
  for (let skip = 0; skip <= MAX_GARBLED_HEAD; skip++) {
    const head = query.slice(skip, skip + MIN_PROMPT_TAIL);
    if (head.length < MIN_PROMPT_TAIL) return null;
    for (let j = prompt.indexOf(head, 1); j >= 0; j = prompt.indexOf(head, j + 1)) {
      if (query.startsWith(prompt.slice(j), skip)) return skip + prompt.length - j;
    }
  }
  return null;
}

/**
 * Splits a query into the prompt and the response that follows it. Only the response goes to
 * the reward node, so the format gate and the judges never see the prompt (a system prompt
 * that explains `<plan>`/`<answer>` must not pass or fail the gate).
 */
export function splitQuery(query: string, prompt: string): { response: string; match: PromptMatch } {
  if (!prompt) return { response: query, match: 'absent' };
  if (query.startsWith(prompt)) return { response: query.slice(prompt.length), match: 'exact' };
  const at = query.indexOf(prompt);
  if (at >= 0 && at <= MAX_PREFIX_BEFORE_PROMPT) return { response: query.slice(at + prompt.length), match: 'exact' };
  const loose = looseEnd(query, prompt);
  if (loose !== null) return { response: query.slice(loose), match: 'loose' };
  const tail = truncatedEnd(query, prompt);
  if (tail !== null) return { response: query.slice(tail), match: 'truncated' };
  return { response: query, match: 'absent' };
}

/** The response part of a query: what follows its prompt, or the whole query when the prompt is not in it. */
export function responseOf(query: string, prompt: string): string {
  return splitQuery(query, prompt).response;
}

export interface RolloutMapping {
  /** Rollout and group ids of per-request groups derive from it. */
  requestId: string;
  /** createdAt of the rollouts. */
  now: number;
  policyModel?: string | null;
  step?: number | null;
}

/**
 * One rollout per query item, in order, grouped within the request: items that share a
 * prompt are one GRPO group (group id from the request id and the prompt, group size their
 * count); without prompts each item is a group of its own, since nothing says which items
 * answer the same question. RolloutGrouper regroups small requests across requests.
 */
export function rolloutsFromRequest(req: GetRewardRequest, m: RolloutMapping): ReasoningRollout[] {
  const prompts = req.prompts ?? null;
  const groupOf = (i: number) => (prompts ? deterministicId('grp', m.requestId, 'prompt', prompts[i]!) : deterministicId('grp', m.requestId, 'item', i));
  const groupIds = req.query.map((_, i) => groupOf(i));
  const sizes = new Map<string, number>();
  for (const g of groupIds) sizes.set(g, (sizes.get(g) ?? 0) + 1);
  return req.query.map((query, i) => {
    const prompt = prompts?.[i] ?? '';
    const id = deterministicId('ro', m.requestId, i);
    const { response, match } = splitQuery(query, prompt);
    const versions: Record<string, string> = { 'request.id': m.requestId };
    // How the prompt was cut off, when it was not found verbatim: worth a look if rewards seem off.
    if (prompt && match !== 'exact') versions['request.prompt'] = match;
    return {
      id,
      groupId: groupIds[i]!,
      groupSize: sizes.get(groupIds[i]!)!,
      questionId: deterministicId('q', prompt),
      question: prompt,
      response,
      policyModel: m.policyModel ?? null,
      step: m.step ?? null,
      createdAt: m.now,
      lineage: lineageOf('reward-endpoint', [], versions),
    };
  });
}

/** A request id from the request's content: a retry of the same body gets the same rollout ids. */
export function contentRequestId(req: GetRewardRequest): string {
  return deterministicId('req', JSON.stringify([req.query, req.prompts ?? null]));
}

// ---------------------------------------------------------------------------------------
// Groups across requests.

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
    const g = (pg.open ??= { id: deterministicId('grp', this.runId, this.seq++, prompt), size: this.opts.groupSize, openedAt: now, touchedAt: now, members: [] });
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
