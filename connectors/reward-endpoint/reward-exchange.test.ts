// The OpenRLHF request mapping and the waiting bookkeeping the exchanges share.
import type { ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import { rewardRecord } from '../../test/fixtures/records';
import {
  contentRequestId,
  parseGetRewardRequest,
  responseOf,
  rewardResponse,
  RewardFailedError,
  RewardTimeoutError,
  RewardWaiters,
  RolloutGrouper,
  rolloutsFromRequest,
  ScoreAbortedError,
  splitQuery,
} from './reward-exchange';

const record = (rolloutId: string, total: number) => ({ rolloutId, total }) as RewardRecord;

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

  it('stamps how the prompt was found when it was not found verbatim', () => {
    const [exact, alone] = rolloutsFromRequest({ query: ['PQ?<plan>', '<plan>'], prompts: ['PQ?', 'PQ?'] }, { requestId: 'r', now: 0 });
    expect(exact!.lineage.versions['request.prompt']).toBeUndefined();
    expect(alone!.lineage.versions['request.prompt']).toBe('absent');
  });
});

describe('splitQuery: the format gate must see the response only', () => {
  // A system prompt that explains the format, with empty example blocks in it.
  const PROMPT = '<|im_start|>system\nWrite the plan in <plan></plan> and the program in <answer></answer>.<|im_end|>\n<|im_start|>user\nIs the mug left of the laptop?<|im_end|>\n<|im_start|>assistant\n';
  const RESPONSE = '<plan>1. Find the mug.</plan><answer>final_answer = 1</answer>';

  it('cuts the prompt off exactly, after a BOS, when decoding changed its whitespace, and when it was truncated from the left', () => {
    expect(splitQuery(PROMPT + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'exact' });
    expect(splitQuery('<s>' + PROMPT + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'exact' });
    // A decode that dropped a space before punctuation and turned a newline into a space.
    const decoded = PROMPT.replace(' and the program', '  and the program').replace('system\n', 'system ').replace(' <answer></answer>.', '<answer></answer> .');
    expect(decoded).not.toContain(PROMPT);
    expect(splitQuery(decoded + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'loose' });
    // OpenRLHF keeps the last tokens of a prompt that is too long; the <plan> example survives the cut.
    const tail = PROMPT.slice(25);
    expect(tail).toContain('<plan></plan>');
    expect(splitQuery(tail + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'truncated' });
    // A cut through a multi-byte character can leave a replacement character in front.
    expect(splitQuery('\uFFFD' + tail + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'truncated' });
  });

  it('keeps a response alone whole (verl, TRL), and never takes a short coincidence for a cut prompt', () => {
    expect(splitQuery(RESPONSE, 'Is the mug left of the laptop?')).toEqual({ response: RESPONSE, match: 'absent' });
    expect(splitQuery(RESPONSE, '')).toEqual({ response: RESPONSE, match: 'absent' });
    // The response starts with the prompt's last words, but fewer than 32 characters of them.
    expect(splitQuery('laptop? <plan>p</plan>', 'Is the mug left of the laptop?').match).toBe('absent');
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
    expect(rewardResponse([])).toEqual({ rewards: [], scores: [], extra_logs: { logic: [], syntax: [], attributes: [], spatial: [], adherence: [], format_ok: [] } });
  });
});

describe('RolloutGrouper', () => {
  const P = 'Is the mug left of the laptop?';
  // OpenRLHF's request: one sample, prompt + response, its prompt and label.
  const one = (response: string, prompt = P) => ({ query: [prompt + response], prompts: [prompt], labels: [null] });
  const at = (req: ReturnType<typeof one>) => ({ requestId: contentRequestId(req), now: 0 });
  function grouper(opts: { groupSize?: number; windowMs?: number } = {}) {
    let now = 1_000;
    const g = new RolloutGrouper({ groupSize: opts.groupSize ?? 4, windowMs: opts.windowMs ?? 60_000, runId: 'run-1', now: () => now });
    return { g, advance: (ms: number) => (now += ms) };
  }

  it('puts n one-sample requests of a prompt into one group of n; the next sample opens the next group', () => {
    const { g } = grouper();
    const assigned = ['a', 'b', 'c', 'd', 'e'].map((x) => {
      const req = one(x);
      const a = g.assign(req, at(req));
      a.settle(true);
      return a.rollouts[0]!;
    });
    const first = assigned.slice(0, 4);
    expect(new Set(first.map((r) => r.groupId)).size).toBe(1);
    expect(first.every((r) => r.groupSize === 4 && r.question === P)).toBe(true);
    expect(assigned.map((r) => r.response)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(new Set(assigned.map((r) => r.id)).size).toBe(5);
    expect(assigned[4]!.groupId).not.toBe(first[0]!.groupId);
    expect(assigned[4]!.lineage.versions).toMatchObject({ 'endpoint.run': 'run-1' });

    // Deterministic: the same requests in the same order give the same ids.
    const again = grouper().g;
    expect(['a', 'b', 'c', 'd', 'e'].map((x) => again.assign(one(x), at(one(x))).rollouts[0]!.id)).toEqual(assigned.map((r) => r.id));
  });

  it('gives a retried request its rollout back; identical responses that were answered are distinct samples', () => {
    const { g } = grouper();
    const first = g.assign(one('same'), at(one('same')));
    first.settle(false); // e.g. 504, or the trainer's client timed out
    const retry = g.assign(one('same'), at(one('same')));
    expect(retry.rollouts[0]!.id).toBe(first.rollouts[0]!.id);
    expect(retry.rollouts[0]!.groupId).toBe(first.rollouts[0]!.groupId);
    retry.settle(true);
    // Another sample that happens to be the same text: a new member of the same group.
    const twin = g.assign(one('same'), at(one('same')));
    expect(twin.rollouts[0]!.id).not.toBe(first.rollouts[0]!.id);
    expect(twin.rollouts[0]!.groupId).toBe(first.rollouts[0]!.groupId);
    // Two requests in flight at once with the same text are two samples too.
    const inFlight = g.assign(one('same'), at(one('same')));
    expect(new Set([first, twin, inFlight].map((a) => a.rollouts[0]!.id)).size).toBe(3);
  });

  it('opens a new group once the window has passed (the old one is left to time out partial)', () => {
    const { g, advance } = grouper({ windowMs: 10_000 });
    const a = g.assign(one('a'), at(one('a'))).rollouts[0]!;
    advance(10_000);
    const b = g.assign(one('b'), at(one('b'))).rollouts[0]!;
    expect(b.groupId).not.toBe(a.groupId);
    expect(b.groupSize).toBe(4);
  });

  it('keeps prompts apart, and a request with a whole group of a prompt as its own group', () => {
    const { g } = grouper({ groupSize: 2 });
    const q = 'Is the cup on the table?';
    const x = g.assign(one('a'), at(one('a'))).rollouts[0]!;
    const y = g.assign(one('a', q), at(one('a', q))).rollouts[0]!;
    expect(x.groupId).not.toBe(y.groupId);
    // A batch with both samples of q (verl's batch manager, TRL): grouped in the request, as before.
    const batch = { query: [q + 'b', q + 'c', P + 'd'], prompts: [q, q, P] };
    const rs = g.assign(batch, { requestId: 'batch', now: 0 }).rollouts;
    const perRequest = rolloutsFromRequest(batch, { requestId: 'batch', now: 0 });
    expect(rs.slice(0, 2)).toEqual(perRequest.slice(0, 2));
    expect(rs.map((r) => r.groupSize)).toEqual([2, 2, 2]);
    // ...while its single sample of P completes P's open group.
    expect(rs[2]!.groupId).toBe(x.groupId);
  });

  it('leaves requests without prompts, and group size 1, to the per-request groups', () => {
    const { g } = grouper();
    const bare = { query: ['a', 'b'] };
    expect(g.assign(bare, { requestId: 'r', now: 0 }).rollouts).toEqual(rolloutsFromRequest(bare, { requestId: 'r', now: 0 }));
    const off = new RolloutGrouper({ groupSize: 1, windowMs: 1_000 });
    expect(off.assign(one('a'), at(one('a'))).rollouts).toEqual(rolloutsFromRequest(one('a'), at(one('a'))));
    expect(() => new RolloutGrouper({ groupSize: 0, windowMs: 1 })).toThrow(/group size must be an integer >= 1/);
  });

  it('forgets groups after rememberMs, but not while a request waits', () => {
    let now = 0;
    const g = new RolloutGrouper({ groupSize: 2, windowMs: 1_000, rememberMs: 5_000, now: () => now });
    const held = g.assign(one('a'), at(one('a')));
    g.assign(one('a', 'other prompt'), at(one('a', 'other prompt'))).settle(true);
    now = 60_000;
    g.assign(one('b', 'third'), at(one('b', 'third'))).settle(true);
    expect(g.prompts).toBe(2); // P (still held) and the third; the other was forgotten
    held.settle(true);
    now = 120_000;
    g.assign(one('c', 'fourth'), at(one('c', 'fourth')));
    expect(g.prompts).toBe(1);
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
