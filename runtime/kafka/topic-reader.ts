// Reads one topic from a chosen position, read_committed, for people and tools (`tail`,
// `status`): from the beginning, from a time (the offsets Kafka keeps for timestamps), from
// explicit offsets, or from the end; up to the end offsets as they were when it started, or
// on and on (follow). It joins a fresh group that never commits, so it moves no one's offsets.
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { retryTransient } from './kafka-admin';
import { ReadPosition } from './read-position';

export type ReadFrom = { kind: 'beginning' } | { kind: 'end' } | { kind: 'time'; ms: number } | { kind: 'offsets'; offsets: Map<number, bigint> };

/** `p:o,p:o` -> offsets by partition; throws naming the bad part. */
export function parseOffsets(s: string): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m) throw new Error(`'${part}' is not partition:offset (e.g. 0:1200)`);
    out.set(Number(m[1]), BigInt(m[2]!));
  }
  if (!out.size) throw new Error('no partition:offset given');
  return out;
}

/** An ISO time -> ms; throws naming the input. */
export function parseTime(s: string): number {
  const ms = Date.parse(s);
  if (!Number.isFinite(ms)) throw new Error(`'${s}' is not an ISO time (e.g. 2026-12-01T10:00:00Z)`);
  return ms;
}

/** Per partition, the first offset at or after `ms`; its end offset (`highs`) where no record is that late. */
export async function offsetsAtTime(admin: Admin, topic: string, ms: number, highs: ReadonlyMap<number, bigint>): Promise<Map<number, bigint>> {
  const byTime = await retryTransient(`offsets of ${topic} at ${new Date(ms).toISOString()}`, () => admin.fetchTopicOffsetsByTimestamp(topic, ms));
  // -1: no record at or after the time in that partition, so nothing to read there.
  return new Map(byTime.map((o) => [o.partition, BigInt(o.offset) < 0n ? highs.get(o.partition)! : BigInt(o.offset)]));
}

/** Where each partition starts and (without follow) ends. Partitions a `from: offsets` does not name are not read. */
export async function readRange(kafka: Kafka, topic: string, from: ReadFrom): Promise<{ starts: Map<number, bigint>; ends: Map<number, bigint> }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await retryTransient(`offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
    const ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    const lows = new Map(offsets.map((o) => [o.partition, BigInt(o.low)]));
    const starts = new Map<number, bigint>();
    if (from.kind === 'beginning') for (const [p, low] of lows) starts.set(p, low);
    else if (from.kind === 'end') for (const [p, high] of ends) starts.set(p, high);
    else if (from.kind === 'time') {
      for (const [p, o] of await offsetsAtTime(admin, topic, from.ms, ends)) starts.set(p, o);
    } else {
      for (const [p, o] of from.offsets) {
        if (!ends.has(p)) throw new Error(`${topic} has no partition ${p} (it has ${ends.size})`);
        const low = lows.get(p)!;
        starts.set(p, o < low ? low : o);
      }
      for (const p of [...ends.keys()]) if (!starts.has(p)) ends.delete(p);
    }
    return { starts, ends };
  } finally {
    await admin.disconnect();
  }
}

export interface ReadOptions {
  /** Where to start (and, without follow, end at the end offsets now). */
  from?: ReadFrom;
  /** Or an exact range: from `starts` up to `ends` (both per partition). */
  range?: { starts: Map<number, bigint>; ends: Map<number, bigint> };
  /** Keep reading new records after the end offsets as they were at the start. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Each record in partition order; resolve `false` to stop. */
  onMessage(partition: number, message: KafkaMessage): Promise<boolean | void> | boolean | void;
}

/** Reads until the range is done (or, following, until aborted or onMessage says stop). */
export async function readTopicFrom(kafka: Kafka, topic: string, o: ReadOptions): Promise<void> {
  if (!o.range && !o.from) throw new Error('readTopicFrom: give `from` or `range`');
  const { starts, ends } = o.range ?? (await readRange(kafka, topic, o.from!));
  const position = new ReadPosition(topic);
  for (const [p, s] of starts) position.advance(p, s);
  const done = () => !o.follow && position.reached(ends);
  if (done() || starts.size === 0) return;
  const consumer = kafka.consumer({ groupId: `valor-stream.reader.${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  o.signal?.addEventListener('abort', () => stop(), { once: true });
  let failed: unknown;
  try {
    position.follow(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const [p, s] of starts) consumer.seek({ topic, partition: p, offset: String(s) });
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, () => done() && stop());
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, isRunning }) => {
        const start = starts.get(batch.partition);
        const end = o.follow ? undefined : ends.get(batch.partition);
        for (const m of batch.messages) {
          if (!isRunning()) return;
          const off = BigInt(m.offset);
          // Fetches before the seek lands start at the beginning; records past the range wait for no one.
          if (start === undefined || off < start || (end !== undefined && off >= end)) continue;
          try {
            if ((await o.onMessage(batch.partition, m)) === false) return stop();
          } catch (err) {
            failed = err;
            return stop();
          }
        }
        if (start !== undefined && BigInt(batch.lastOffset()) + 1n >= start) position.batchDone(batch);
        if (done()) stop();
      },
    });
    await stopped;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  if (failed) throw failed;
}
