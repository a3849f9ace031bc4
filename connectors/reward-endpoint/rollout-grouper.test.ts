// Grouping one-sample requests across requests by prompt.
import { contentRequestId, rolloutsFromRequest } from './reward-request';
import { RolloutGrouper } from './rollout-grouper';

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
