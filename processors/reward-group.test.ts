// Group completion in memory, through the embedded runtime's changelog and offsets: groups
// complete in any member order, time out partial, and survive restarts exactly once.
import type { Clock } from '../core/clock';
import { EmbeddedLog } from '../runtime/embedded/embedded-log';
import { EmbeddedRuntime } from '../runtime/embedded/embedded-runtime';
import type { DeadLetter, RewardGroup, RewardRecord } from '../schemas/generated/types';
import { rewardRecord, seededShuffle } from '../test/fixtures/records';
import { DEFAULT_TOPIC_NAMES as T } from '../topology/topics';
import type { Topology } from '../topology/topology';
import { valorTopology } from '../topology/valor-topology';
import { validateTopology } from '../topology/validate';
import { lookupProcessor } from '.';
import { groupStats } from './reward-group';

class ManualClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
}

const reward = rewardRecord;
const shuffle = seededShuffle;

function topology(config: Record<string, unknown> = {}): Topology {
  return valorTopology({ nodeConfig: { 'reward-group': { timeoutMs: 60_000, retainMs: 600_000, punctuateMs: 1_000, ...config } } });
}

function runtime(log: EmbeddedLog, clock: Clock, config: Record<string, unknown> = {}): EmbeddedRuntime {
  return new EmbeddedRuntime(topology(config), { log, clock, only: ['reward-group'], chunkSize: 7 });
}

async function produce(rt: EmbeddedRuntime, records: RewardRecord[], timestamp: number): Promise<void> {
  await rt.produce(T.rewardRecords, records.map((r) => ({ key: r.groupId, value: r, timestamp })));
}

describe('reward-group processor', () => {
  it('emits every complete group once, whatever the member order, with mean and sample std', async () => {
    const clock = new ManualClock();
    const rt = runtime(new EmbeddedLog(), clock);
    const groups = Array.from({ length: 12 }, (_, g) => Array.from({ length: 4 }, (_, i) => reward(`g${g}`, i, 4, (g + i) % 3 === 0 ? 1 : 0.25 * i)));
    await produce(rt, shuffle(groups.flat(), 7), clock.now());
    await rt.runUntilIdle();

    const out = (await rt.read<RewardGroup>(T.rewardGroups)).map((r) => r.value);
    expect(out.map((g) => g.groupId).sort()).toEqual(groups.map((g) => g[0]!.groupId).sort());
    for (const g of out) {
      const expected = groups.find((x) => x[0]!.groupId === g.groupId)!;
      expect(g.partial).toBe(false);
      expect(g.members.map((m) => m.rolloutId)).toEqual(expected.map((r) => r.rolloutId).sort());
      const totals = expected.map((r) => r.total);
      const mean = totals.reduce((a, b) => a + b) / 4;
      expect(g.mean).toBeCloseTo(mean, 12);
      expect(g.std).toBeCloseTo(Math.sqrt(totals.reduce((a, t) => a + (t - mean) ** 2, 0) / 3), 12);
      expect(g.lineage.parents.sort()).toEqual(expected.map((r) => r.id).sort());
    }
  });

  it('computes sample std as torch.std does, and 0 for fewer than two members', () => {
    expect(groupStats([1, 0, 1, 0])).toEqual({ mean: 0.5, std: Math.sqrt(1 / 3) });
    expect(groupStats([0.7])).toEqual({ mean: 0.7, std: 0 });
    expect(groupStats([])).toEqual({ mean: 0, std: 0 });
  });

  it('emits an incomplete group partial after the timeout, ignores duplicates and dead-letters late members', async () => {
    const clock = new ManualClock();
    const rt = runtime(new EmbeddedLog(), clock);
    const t0 = clock.now();
    await produce(rt, [reward('slow', 0, 3, 1), reward('slow', 1, 3, 0)], t0);
    await rt.runUntilIdle();
    clock.t += 59_000;
    await rt.runUntilIdle();
    expect(await rt.read(T.rewardGroups)).toHaveLength(0); // not yet: 59 s of 60

    clock.t += 2_000;
    await rt.runUntilIdle();
    const [partial, ...rest] = (await rt.read<RewardGroup>(T.rewardGroups)).map((r) => r.value);
    expect(rest).toHaveLength(0);
    expect(partial).toMatchObject({ groupId: 'slow', partial: true, groupSize: 3, mean: 0.5 });
    expect(partial!.members.map((m) => m.rolloutId)).toEqual(['slow-r0', 'slow-r1']);

    // The same member again (a redelivery) is no news; the missing one is too late.
    await produce(rt, [reward('slow', 1, 3, 0), reward('slow', 2, 3, 1)], clock.now());
    await rt.runUntilIdle();
    expect(await rt.read(T.rewardGroups)).toHaveLength(1);
    const dead = (await rt.read<DeadLetter>(T.deadLetters)).map((r) => r.value);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.reason).toMatch(/slow-r2 arrived after group slow was emitted partial/);
    expect(dead[0]!.source.topic).toBe(T.rewardRecords);
  });

  it('dead-letters a member whose group size disagrees with its group', async () => {
    const clock = new ManualClock();
    const rt = runtime(new EmbeddedLog(), clock);
    await produce(rt, [reward('odd', 0, 2, 1), reward('odd', 1, 3, 1), reward('odd', 2, 2, 0)], clock.now());
    await rt.runUntilIdle();
    const groups = (await rt.read<RewardGroup>(T.rewardGroups)).map((r) => r.value);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.members.map((m) => m.rolloutId)).toEqual(['odd-r0', 'odd-r2']);
    const dead = (await rt.read<DeadLetter>(T.deadLetters)).map((r) => r.value);
    expect(dead.map((d) => d.reason)).toEqual([expect.stringMatching(/odd-r1 says group odd has 3 members, but earlier members said 2/)]);
  });

  it('does not time out groups of an old topic being replayed: time is stream time', async () => {
    const clock = new ManualClock();
    const rt = runtime(new EmbeddedLog(), clock);
    const dayAgo = clock.now() - 86_400_000;
    // Members of each group 10 s apart in record time, all read long after they were written.
    const groups = Array.from({ length: 5 }, (_, g) => Array.from({ length: 3 }, (_, i) => reward(`old${g}`, i, 3, i / 2)));
    for (let i = 0; i < 3; i++) await produce(rt, groups.map((g) => g[i]!), dayAgo + i * 10_000);
    await rt.runUntilIdle();
    const out = (await rt.read<RewardGroup>(T.rewardGroups)).map((r) => r.value);
    expect(out).toHaveLength(5);
    expect(out.every((g) => !g.partial)).toBe(true);
  });

  it('emits every group exactly once across restarts at any point of the stream', async () => {
    const log = new EmbeddedLog();
    const clock = new ManualClock();
    const groups = Array.from({ length: 20 }, (_, g) => Array.from({ length: 1 + (g % 5) }, (_, i) => reward(`r${g}`, i, 1 + (g % 5), (i % 2) * 0.5)));
    const members = shuffle(groups.flat(), 11);
    // Processes in turn, each producing a slice of the stream (with redelivered duplicates)
    // and stopping after one step, mid-stream: the next one starts from the committed
    // offsets and the state restored from the changelog.
    for (const [from, to] of [[0, 20], [20, 41], [41, members.length]] as const) {
      const rt = runtime(log, clock);
      await produce(rt, [...members.slice(from, to), ...members.slice(Math.max(0, from - 3), from)], clock.now());
      await rt.runUntilIdle(1);
      await rt.close();
    }
    const rt = runtime(log, clock);
    expect(log.committed('reward-group', T.rewardRecords, 0) + log.committed('reward-group', T.rewardRecords, 1)
      + log.committed('reward-group', T.rewardRecords, 2) + log.committed('reward-group', T.rewardRecords, 3)).toBeLessThan(members.length + 6);
    await rt.runUntilIdle();
    const out = (await rt.read<RewardGroup>(T.rewardGroups)).map((r) => r.value);
    expect(out.map((g) => g.groupId).sort()).toEqual(groups.map((g) => g[0]!.groupId).sort());
    expect(out.every((g) => !g.partial && g.members.length === g.groupSize)).toBe(true);
    expect(await rt.read(T.deadLetters)).toHaveLength(0);
  });

  it('restores pending groups after a restart and still times them out', async () => {
    const log = new EmbeddedLog();
    const clock = new ManualClock();
    const first = runtime(log, clock);
    await produce(first, [reward('p', 0, 2, 1)], clock.now());
    await first.runUntilIdle();
    await first.close();

    // A new process on the same log: nothing arrives, the group times out from its state.
    clock.t += 30_000;
    const second = runtime(log, clock);
    await second.runUntilIdle();
    clock.t += 61_000;
    await second.runUntilIdle();
    const out = (await second.read<RewardGroup>(T.rewardGroups)).map((r) => r.value);
    expect(out).toEqual([expect.objectContaining({ groupId: 'p', partial: true, members: [expect.objectContaining({ rolloutId: 'p-r0' })] })]);

    // The emitted marker is remembered for retainMs, then dropped with a tombstone.
    const third = runtime(log, clock);
    await produce(third, [reward('p', 0, 2, 1)], clock.now());
    await third.runUntilIdle();
    expect(await third.read(T.rewardGroups)).toHaveLength(1);
    clock.t += 600_001;
    await third.runUntilIdle();
    const p = log.partitionFor(T.rewardGroupsChangelog, 'p');
    const changelog = log.read(T.rewardGroupsChangelog, p, 0, 1_000).filter((e) => e.key?.toString() === 'p');
    expect(changelog[changelog.length - 1]!.value).toBeNull();
  });

  it('refuses a topology whose stateful node has no compacted changelog of its state type', () => {
    const t = topology();
    const bad: Topology = {
      ...t,
      topics: t.topics.map((x) => (x.name === T.rewardGroupsChangelog ? { ...x, compacted: false, partitions: 2 } : x)),
      nodes: t.nodes.map((n) => (n.name === 'reward-group' ? { ...n } : n)),
    };
    expect(() => validateTopology(bad, lookupProcessor)).toThrow(/must be compacted[\s\S]*has 2 partitions but input/);
    const none: Topology = { ...t, nodes: t.nodes.map((n) => (n.name === 'reward-group' ? { ...n, changelog: undefined } : n)) };
    expect(() => validateTopology(none, lookupProcessor)).toThrow(/keeps keyed state and needs a 'changelog' topic/);
  });
});
