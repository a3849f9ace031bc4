// Group completion in memory, on the topology test driver (the embedded runtime's
// changelog and offsets under a wall clock that moves only when told): groups complete in
// any member order, time out partial, and survive restarts exactly once.
import type { DeadLetter, RewardGroup, RewardRecord } from '../schemas/generated/types';
import { rewardRecord, seededShuffle } from '../test/fixtures/records';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { DEFAULT_TOPIC_NAMES as T } from '../topology/topics';
import type { Topology } from '../topology/topology';
import { valorTopology } from '../topology/valor-topology';
import { validateTopology } from '../topology/validate';
import { lookupProcessor } from '.';
import { groupStats } from './reward-group';

const reward = rewardRecord;
const shuffle = seededShuffle;
const T0 = 1_700_000_000_000;

function topology(config: Record<string, unknown> = {}): Topology {
  return valorTopology({ nodeConfig: { 'reward-group': { timeoutMs: 60_000, retainMs: 600_000, punctuateMs: 1_000, ...config } } });
}

function driver(config: Record<string, unknown> = {}): TopologyTestDriver {
  return new TopologyTestDriver(topology(config), { only: ['reward-group'], chunkSize: 7, initialWallClockTime: T0 });
}

/** Members keyed by group, as the reward node writes them, so a group lives in one partition. */
async function pipe(d: TopologyTestDriver, records: RewardRecord[], opts: { timestamp?: number; maxSteps?: number } = {}): Promise<void> {
  await d.pipe(
    T.rewardRecords,
    records.map((r) => ({ key: r.groupId, value: r })),
    opts,
  );
}

async function groupsOut(d: TopologyTestDriver): Promise<RewardGroup[]> {
  return (await d.readAll<RewardGroup>(T.rewardGroups)).map((r) => r.value);
}

describe('reward-group processor', () => {
  it('emits every complete group once, whatever the member order, with mean and sample std', async () => {
    const d = driver();
    const groups = Array.from({ length: 12 }, (_, g) => Array.from({ length: 4 }, (_, i) => reward(`g${g}`, i, 4, (g + i) % 3 === 0 ? 1 : 0.25 * i)));
    await pipe(d, shuffle(groups.flat(), 7));

    const out = await groupsOut(d);
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
    const d = driver();
    await pipe(d, [reward('slow', 0, 3, 1), reward('slow', 1, 3, 0)]);
    // No record flows from here: only idle wall time moves the partition's time on.
    await d.advanceWallClockTime(59_000);
    expect(await d.readAll(T.rewardGroups)).toHaveLength(0); // not yet: 59 s of 60

    await d.advanceWallClockTime(2_000);
    const [partial, ...rest] = await groupsOut(d);
    expect(rest).toHaveLength(0);
    expect(partial).toMatchObject({ groupId: 'slow', partial: true, groupSize: 3, mean: 0.5 });
    expect(partial!.members.map((m) => m.rolloutId)).toEqual(['slow-r0', 'slow-r1']);

    // The same member again (a redelivery) is no news; the missing one is too late.
    await pipe(d, [reward('slow', 1, 3, 0), reward('slow', 2, 3, 1)]);
    expect(await d.readAll(T.rewardGroups)).toHaveLength(1);
    const dead = await d.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.reason).toMatch(/slow-r2 arrived after group slow was emitted partial/);
    expect(dead[0]!.source.topic).toBe(T.rewardRecords);
  });

  it('dead-letters a member whose group size disagrees with its group', async () => {
    const d = driver();
    await pipe(d, [reward('odd', 0, 2, 1), reward('odd', 1, 3, 1), reward('odd', 2, 2, 0)]);
    const groups = await groupsOut(d);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.members.map((m) => m.rolloutId)).toEqual(['odd-r0', 'odd-r2']);
    const dead: DeadLetter[] = await d.deadLetters();
    expect(dead.map((x) => x.reason)).toEqual([expect.stringMatching(/odd-r1 says group odd has 3 members, but earlier members said 2/)]);
  });

  it('does not time out groups of an old topic being replayed: time is stream time', async () => {
    const d = driver();
    const dayAgo = d.wallClockTime - 86_400_000;
    // Members of each group 10 s apart in record time, all read long after they were written.
    const groups = Array.from({ length: 5 }, (_, g) => Array.from({ length: 3 }, (_, i) => reward(`old${g}`, i, 3, i / 2)));
    for (let i = 0; i < 3; i++)
      await pipe(
        d,
        groups.map((g) => g[i]!),
        { timestamp: dayAgo + i * 10_000 },
      );
    const out = await groupsOut(d);
    expect(out).toHaveLength(5);
    expect(out.every((g) => !g.partial)).toBe(true);
  });

  it('emits every group exactly once across restarts at any point of the stream', async () => {
    const d = driver();
    const groups = Array.from({ length: 20 }, (_, g) => Array.from({ length: 1 + (g % 5) }, (_, i) => reward(`r${g}`, i, 1 + (g % 5), (i % 2) * 0.5)));
    const members = shuffle(groups.flat(), 11);
    // Processes in turn, each producing a slice of the stream (with redelivered duplicates)
    // and stopping after one step, mid-stream: the next one starts from the committed
    // offsets and the state restored from the changelog.
    for (const [from, to] of [
      [0, 20],
      [20, 41],
      [41, members.length],
    ] as const) {
      if (from > 0) await d.restart();
      await pipe(d, [...members.slice(from, to), ...members.slice(Math.max(0, from - 3), from)], { maxSteps: 1 });
    }
    await d.restart();
    const log = d.log;
    expect(
      log.committed('reward-group', T.rewardRecords, 0) +
        log.committed('reward-group', T.rewardRecords, 1) +
        log.committed('reward-group', T.rewardRecords, 2) +
        log.committed('reward-group', T.rewardRecords, 3),
    ).toBeLessThan(members.length + 6);
    await d.runUntilIdle();
    const out = await groupsOut(d);
    expect(out.map((g) => g.groupId).sort()).toEqual(groups.map((g) => g[0]!.groupId).sort());
    expect(out.every((g) => !g.partial && g.members.length === g.groupSize)).toBe(true);
    expect(await d.readAll(T.deadLetters)).toHaveLength(0);
  });

  it('restores pending groups after a restart and still times them out', async () => {
    const d = driver();
    await pipe(d, [reward('p', 0, 2, 1)]);

    // A new process on the same log, 30 s later: nothing arrives, the group times out from
    // its state. The downtime is not idle time of a running partition, so it does not count.
    await d.restart({ downtimeMs: 30_000 });
    await d.runUntilIdle();
    await d.advanceWallClockTime(61_000);
    const out = await groupsOut(d);
    expect(out).toEqual([expect.objectContaining({ groupId: 'p', partial: true, members: [expect.objectContaining({ rolloutId: 'p-r0' })] })]);

    // The emitted marker is remembered for retainMs, then dropped with a tombstone.
    await d.restart();
    await pipe(d, [reward('p', 0, 2, 1)]);
    expect(await d.readAll(T.rewardGroups)).toHaveLength(1);
    await d.advanceWallClockTime(600_001);
    const p = d.log.partitionFor(T.rewardGroupsChangelog, 'p');
    const changelog = d.log.read(T.rewardGroupsChangelog, p, 0, 1_000).filter((e) => e.key?.toString() === 'p');
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
