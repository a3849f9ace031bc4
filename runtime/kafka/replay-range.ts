// Where a replay starts and ends on its input topic, and its consumer group positioned
// there. Only the replay's own group (`<prefix>.<node>.replay.<tag>`) is ever written: the
// live group's committed offsets are not read for writing, let alone moved.
import type { Admin, Kafka } from 'kafkajs';
import { retryTransient } from './kafka-admin';
import type { ReplayRange } from './replay-bounds';
import { offsetsAtTime } from './topic-reader';

export type ReplayFrom = { kind: 'time'; ms: number } | { kind: 'offsets'; offsets: Map<number, bigint> };

/**
 * The range: from the first record at or after the time (or the offsets given; partitions
 * not named are not replayed) up to the end offsets now, or to the first record at or after
 * `toMs`. Offsets below the log start are raised to it (retention deleted them).
 */
export async function replayRange(admin: Admin, topic: string, from: ReplayFrom, toMs?: number): Promise<ReplayRange> {
  const offsets = await retryTransient(`offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
  const highs = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  const lows = new Map(offsets.map((o) => [o.partition, BigInt(o.low)]));
  const ends = toMs === undefined ? new Map(highs) : await offsetsAtTime(admin, topic, toMs, highs);
  const starts = new Map<number, bigint>();
  if (from.kind === 'time') {
    for (const [p, o] of await offsetsAtTime(admin, topic, from.ms, highs)) starts.set(p, o);
  } else {
    for (const p of from.offsets.keys()) if (!highs.has(p)) throw new Error(`${topic} has no partition ${p} (it has ${highs.size})`);
    for (const p of highs.keys()) starts.set(p, from.offsets.get(p) ?? ends.get(p)!);
  }
  for (const [p, s] of starts) {
    const low = lows.get(p)!;
    const end = ends.get(p)!;
    const start = s < low ? low : s;
    starts.set(p, start > end ? end : start);
  }
  return { starts, ends };
}

/** Records a range spans by offsets (markers included; the exact count comes from reading it). */
export function rangeOffsets(range: ReplayRange): bigint {
  let n = 0n;
  for (const [p, end] of range.ends) n += end - (range.starts.get(p) ?? end);
  return n;
}

/**
 * Commits the range's starts as the replay group's offsets, so its consumer begins there.
 * Refuses a group with members (that replay is running) and, unless `resume`, a group that
 * already has offsets (that tag was used: a new tag, or --resume to continue it). Resuming
 * continues from the group's offsets. Returns the starts in effect.
 */
export async function positionReplayGroup(
  kafka: Kafka,
  groupId: string,
  topic: string,
  range: ReplayRange,
  resume: boolean,
): Promise<{ starts: Map<number, bigint>; resumed: boolean }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [described] = (await retryTransient(`describe ${groupId}`, () => admin.describeGroups([groupId]))).groups;
    const members = described?.members ?? [];
    if (members.length) {
      throw new Error(`consumer group ${groupId} has ${members.length} active member(s): this replay is running already; wait for it or choose another --tag`);
    }
    const fetched = await retryTransient(`offsets of ${groupId}`, () => admin.fetchOffsets({ groupId, topics: [topic] }));
    const committed = new Map((fetched[0]?.partitions ?? []).filter((p) => p.offset !== '-1').map((p) => [p.partition, BigInt(p.offset)] as [number, bigint]));
    if (committed.size && !resume) {
      const at = [...committed].map(([p, o]) => `${p}:${o}`).join(',');
      throw new Error(
        `replay group ${groupId} already has committed offsets (${at}): that tag was used before; choose a new --tag, or pass --resume to continue it`,
      );
    }
    if (committed.size) {
      const starts = new Map(range.starts);
      for (const [p, o] of committed) if (starts.has(p)) starts.set(p, o > range.ends.get(p)! ? range.ends.get(p)! : o > starts.get(p)! ? o : starts.get(p)!);
      return { starts, resumed: true };
    }
    await retryTransient(`positioning ${groupId}`, () =>
      admin.setOffsets({ groupId, topic, partitions: [...range.starts].map(([partition, o]) => ({ partition, offset: o.toString() })) }),
    );
    return { starts: range.starts, resumed: false };
  } finally {
    await admin.disconnect();
  }
}
