// The waiting bookkeeping the exchanges share.
import type { ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import { RewardFailedError, RewardTimeoutError, RewardWaiters, ScoreAbortedError } from './reward-exchange';

const record = (rolloutId: string, total: number) => ({ rolloutId, total }) as RewardRecord;

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
