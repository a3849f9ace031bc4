// The OpenRLHF request: validation, the mapping to rollouts, and the answer.
import type { ReasoningRollout } from '../../schemas/generated/types';
import { rewardRecord } from '../../test/fixtures/records';
import { responseOf } from './prompt-split';
import { parseGetRewardRequest, rewardResponse, rolloutsFromRequest } from './reward-request';

describe('parseGetRewardRequest', () => {
  it.each([
    [{}, /^query: /],
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
    // OpenRLHF with several reward URLs posts empty shards to all but one.
    expect(parseGetRewardRequest({ query: [], prompts: [], labels: [] }).ok).toBe(true);
  });
});

describe('rolloutsFromRequest', () => {
  it('strips the prompt, groups by prompt and derives ids from the request id', () => {
    const body = {
      query: ['P1<plan>a</plan>', 'P2<plan>b</plan>', 'P1<plan>c</plan>', '<s>P1<plan>d</plan>', 'only a response'],
      prompts: ['P1', 'P2', 'P1', 'P1', 'P3'],
    };
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
    expect(rs.map((r) => [r.groupSize, r.response, r.question])).toEqual([
      [1, 'x', ''],
      [1, 'x', ''],
    ]);
  });

  it('finds the prompt only near the start of the query', () => {
    expect(responseOf('x'.repeat(100) + 'P<plan>', 'P')).toBe('x'.repeat(100) + 'P<plan>');
    expect(responseOf('<|begin_of_text|>P<plan>', 'P')).toBe('<plan>');
  });

  it('stamps how the prompt was found when it was not found verbatim', () => {
    const [exact, alone] = rolloutsFromRequest({ query: ['PQ?<plan>', '<plan>'], prompts: ['PQ?', 'PQ?'] }, { requestId: 'r', now: 0 });
    expect(exact!.lineage.versions['request.prompt']).toBeUndefined();
    expect(alone!.lineage.versions['request.prompt']).toBe('absent');
  });
});

describe('rewardResponse', () => {
  it('has the totals as rewards and scores, and each component as a list aligned with the samples', () => {
    const a = { ...rewardRecord('g', 0, 2, 0.8), components: { logic: 1, syntax: 1, attributes: 1, spatial: 0, adherence: 1 } };
    const b = { ...rewardRecord('g', 1, 2, 0), formatOk: false, components: { logic: 0, syntax: 0, attributes: 0, spatial: 0, adherence: 0 } };
    expect(rewardResponse([a, b])).toEqual({
      rewards: [0.8, 0],
      scores: [0.8, 0],
      extra_logs: { logic: [1, 0], syntax: [1, 0], attributes: [1, 0], spatial: [0, 0], adherence: [1, 0], format_ok: [1, 0] },
    });
    expect(rewardResponse([])).toEqual({
      rewards: [],
      scores: [],
      extra_logs: { logic: [], syntax: [], attributes: [], spatial: [], adherence: [], format_ok: [] },
    });
  });
});
