// The OpenRLHF request mapping and the waiting bookkeeping the exchanges share.
import type { ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import {
  parseGetRewardRequest,
  responseOf,
  RewardFailedError,
  RewardTimeoutError,
  RewardWaiters,
  rolloutsFromRequest,
  ScoreAbortedError,
} from './reward-exchange';

const record = (rolloutId: string, total: number) => ({ rolloutId, total }) as RewardRecord;

describe('parseGetRewardRequest', () => {
  it.each([
    [{}, /^query: /],
    [{ query: [] }, /^query: Too small/],
    [{ query: 'a' }, /^query: Invalid input: expected array/],
    [{ query: ['a', 2] }, /^query\.1: Invalid input: expected string/],
    [{ query: ['a', 'b'], prompts: ['p'] }, /^prompts: must have as many items as query \(2\), has 1$/],
    [{ query: ['a'], prompts: [3] }, /^prompts\.0: /],
    [{ query: ['a'], labels: [null, null] }, /^labels: must have as many items/],
    [[1, 2], /^<body>: /],
  ])('refuses %j naming the field', (body, message) => {
    const r = parseGetRewardRequest(body);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(message);
  });

  it('accepts what OpenRLHF sends, with or without prompts and labels', () => {
    expect(parseGetRewardRequest({ query: ['q'], prompts: ['p'], labels: [null] }).ok).toBe(true);
    expect(parseGetRewardRequest({ query: ['q'], prompts: null, labels: null }).ok).toBe(true);
    expect(parseGetRewardRequest({ query: ['q'], extra: 1 }).ok).toBe(true);
  });
});

describe('rolloutsFromRequest', () => {
  it('strips the prompt, groups by prompt and derives ids from the request id', () => {
    const body = { query: ['P1<plan>a</plan>', 'P2<plan>b</plan>', 'P1<plan>c</plan>', '<s>P1<plan>d</plan>', 'only a response'], prompts: ['P1', 'P2', 'P1', 'P1', 'P3'] };
    const rs = rolloutsFromRequest(body, { requestId: 'req-1', now: 5 });
    expect(rs.map((r) => r.response)).toEqual(['<plan>a</plan>', '<plan>b</plan>', '<plan>c</plan>', '<plan>d</plan>', 'only a response']);
    expect(rs.map((r) => r.question)).toEqual(body.prompts);
    const [a, b, c, d, e] = rs as [ReasoningRollout, ReasoningRollout, ReasoningRollout, ReasoningRollout, ReasoningRollout];
    expect(a.groupId).toBe(c.groupId);
    expect(a.groupId).toBe(d.groupId);
    expect(new Set([a.groupId, b.groupId, e.groupId]).size).toBe(3);
    expect(rs.map((r) => r.groupSize)).toEqual([3, 1, 3, 3, 1]);
    expect(a.questionId).toBe(c.questionId);
    expect(a.questionId).not.toBe(b.questionId);
    expect(new Set(rs.map((r) => r.id)).size).toBe(5);
    expect(rs.every((r) => r.createdAt === 5 && r.lineage.producedBy === 'reward-endpoint' && r.lineage.versions['request.id'] === 'req-1')).toBe(true);

    // Deterministic for one request id, different for another; the question id is the prompt's.
    expect(rolloutsFromRequest(body, { requestId: 'req-1', now: 9 }).map((r) => [r.id, r.groupId])).toEqual(rs.map((r) => [r.id, r.groupId]));
    const other = rolloutsFromRequest(body, { requestId: 'req-2', now: 5 });
    expect(other[0]!.id).not.toBe(a.id);
    expect(other[0]!.groupId).not.toBe(a.groupId);
    expect(other[0]!.questionId).toBe(a.questionId);
  });

  it('makes each item a group of its own without prompts', () => {
    const rs = rolloutsFromRequest({ query: ['x', 'x'] }, { requestId: 'r', now: 0 });
    expect(rs[0]!.groupId).not.toBe(rs[1]!.groupId);
    expect(rs.map((r) => [r.groupSize, r.response, r.question])).toEqual([[1, 'x', ''], [1, 'x', '']]);
  });

  it('finds the prompt only near the start of the query', () => {
    expect(responseOf('x'.repeat(100) + 'P<plan>', 'P')).toBe('x'.repeat(100) + 'P<plan>');
    expect(responseOf('<|begin_of_text|>P<plan>', 'P')).toBe('<plan>');
  });
});

describe('RewardWaiters', () => {
  const rollouts = (ids: string[]) => ids.map((id) => ({ id, groupId: `g-${id}` }) as ReasoningRollout);

  it('resolves in input order once every rollout has a record; duplicates do not count twice', async () => {
    const w = new RewardWaiters();
    const p = w.wait(rollouts(['a', 'b', 'c']), { timeoutMs: 5_000 }).promise;
    expect(w.wantsGroup('g-b')).toBe(true);
    w.deliver(record('c', 0.3));
    w.deliver(record('c', 0.9));
    w.deliver(record('zzz', 1));
    w.deliver(record('a', 0.1));
    w.deliver(record('b', 0.2));
    expect((await p).map((r) => r.total)).toEqual([0.1, 0.2, 0.3]);
    expect(w.size).toBe(0);
    expect(w.wantsGroup('g-b')).toBe(false);
  });

  it('times out naming the missing rollouts', async () => {
    const w = new RewardWaiters();
    const p = w.wait(rollouts(['a', 'b', 'c']), { timeoutMs: 50 }).promise;
    w.deliver(record('b', 1));
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(RewardTimeoutError);
    expect(err.missing).toEqual(['a', 'c']);
    expect(err.message).toBe('no reward record for 2 of 3 rollout(s) within 50 ms: a, c');
    expect(w.size).toBe(0);
  });

  it('fails at once on a dead letter, and when the caller aborts', async () => {
    const w = new RewardWaiters();
    const p = w.wait(rollouts(['a', 'b']), { timeoutMs: 5_000 }).promise;
    w.fail('b', 'reward: judge failed');
    await expect(p).rejects.toThrow(new RewardFailedError('b', 'reward: judge failed'));

    const ac = new AbortController();
    const q = w.wait(rollouts(['c']), { timeoutMs: 5_000, signal: ac.signal }).promise;
    ac.abort();
    await expect(q).rejects.toBeInstanceOf(ScoreAbortedError);
    expect(w.size).toBe(0);
  });

  it('gives one record to every wait for the same rollout', async () => {
    const w = new RewardWaiters();
    const p1 = w.wait(rollouts(['a']), { timeoutMs: 5_000 }).promise;
    const p2 = w.wait(rollouts(['a', 'b']), { timeoutMs: 5_000 }).promise;
    w.deliver(record('a', 1));
    expect((await p1)[0]!.total).toBe(1);
    w.deliver(record('b', 0));
    expect((await p2).map((r) => r.total)).toEqual([1, 0]);
  });
});
