import type { Admin } from 'kafkajs';
import { Registry } from 'prom-client';
import pino from 'pino';
import { GroupWatch } from './group-watch';
import { fakeConsumer } from './metrics.testkit';
import { LagPoller, partitionLag } from './lag';
import { StreamMetrics } from './stream-metrics';

describe('partitionLag', () => {
  it('is end minus committed on a topic written without transactions', () => {
    expect(partitionLag({ high: 10n, low: 0n, committed: 10n })).toBe(0n);
    expect(partitionLag({ high: 10n, low: 0n, committed: 4n })).toBe(6n);
  });

  it('skips the commit marker after the last record: 0 when caught up on a transactional topic', () => {
    // Records 0..9 in one transaction, its marker at 10: the end offset is 11, and the node
    // commits one past its last record, 10, the marker's offset.
    const caughtUp = { high: 11n, low: 0n, committed: 10n };
    expect(partitionLag(caughtUp)).toBe(1n); // what the broker alone says
    expect(partitionLag({ ...caughtUp, processed: 11n })).toBe(0n); // the marker came in the records' fetch
    expect(partitionLag({ ...caughtUp, empty: { from: 10n, to: 11n } })).toBe(0n); // ... or in a fetch of its own
  });

  it('skips several markers in a row (an aborted transaction and its marker) only from where the group is', () => {
    // 0..4 committed, marker 5; 6..8 aborted, marker 9: a read_committed fetch from 5 holds no record.
    expect(partitionLag({ high: 10n, low: 0n, committed: 5n, empty: { from: 5n, to: 10n } })).toBe(0n);
    // A stretch further on says nothing about the records before it.
    expect(partitionLag({ high: 11n, low: 0n, committed: 3n, empty: { from: 10n, to: 11n } })).toBe(8n);
    // One already passed changes nothing.
    expect(partitionLag({ high: 30n, low: 0n, committed: 20n, empty: { from: 10n, to: 11n } })).toBe(10n);
  });

  it('takes the furthest of committed, processed and the log start', () => {
    expect(partitionLag({ high: 30n, low: 0n, committed: 25n, processed: 11n })).toBe(5n); // a stale local position
    expect(partitionLag({ high: 30n, low: 20n, committed: 10n })).toBe(10n); // retention deleted 10..19
    expect(partitionLag({ high: 5n, low: 0n, committed: 9n })).toBe(0n); // never negative
  });

  it('without a committed offset counts from the log start, or is unknown for a group that starts at the end', () => {
    expect(partitionLag({ high: 12n, low: 2n, committed: null })).toBe(10n);
    expect(partitionLag({ high: 12n, low: 2n, committed: null, fromBeginning: false })).toBeNull();
    expect(partitionLag({ high: 12n, low: 2n, committed: null, fromBeginning: false, processed: 12n })).toBe(0n);
  });
});

function fakeAdmin(ends: Record<number, [number, number]>, committed: Record<number, string>) {
  const calls: string[] = [];
  let fail = false;
  const admin = {
    connect: async () => void calls.push('connect'),
    disconnect: async () => void calls.push('disconnect'),
    fetchTopicOffsets: async (topic: string) => {
      if (fail) throw new Error('broker down');
      calls.push(`ends ${topic}`);
      return Object.entries(ends).map(([p, [low, high]]) => ({ partition: Number(p), low: String(low), high: String(high), offset: String(high) }));
    },
    fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) => {
      calls.push(`committed ${groupId}`);
      return [{ topic: topics[0]!, partitions: Object.entries(committed).map(([p, offset]) => ({ partition: Number(p), offset, metadata: null })) }];
    },
  };
  return { admin: admin as unknown as Admin, calls, setFailing: (f: boolean) => (fail = f) };
}

describe('LagPoller', () => {
  const lagOf = async (metrics: StreamMetrics) =>
    Object.fromEntries((await metrics.defs.lag.get()).values.map((v) => [`${v.labels.node} ${v.labels.topic}[${v.labels.partition}]`, v.value]));

  it('sets the lag of owned partitions, skips markers it saw, drops partitions that left, and survives a failing broker', async () => {
    const metrics = new StreamMetrics(new Registry());
    const consumer = fakeConsumer();
    const watch = new GroupWatch(metrics.node('verify'), { topic: 'in', groupId: 'valor.verify' }).attach(consumer);
    const { admin, calls, setFailing } = fakeAdmin({ 0: [0, 11], 1: [0, 5], 2: [0, 7] }, { 0: '10', 1: '-1', 2: '3' });
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void warnings.push(JSON.parse(l).msg) });
    const poller = new LagPoller(admin, metrics, log, 60_000);

    consumer.emit('GROUP_JOIN', { memberAssignment: { in: [0, 1] } });
    consumer.emit('END_BATCH_PROCESS', { topic: 'in', partition: 0, batchSize: 0, firstOffset: '10', lastOffset: '10' });
    await poller.refresh();
    expect(await lagOf(metrics)).toEqual({ 'verify in[0]': 0, 'verify in[1]': 5 }); // partition 2 is another member's
    expect(calls).toEqual(['connect', 'ends in', 'committed valor.verify']);

    consumer.emit('GROUP_JOIN', { memberAssignment: { in: [2] } });
    watch.processed(2, 5n);
    await poller.refresh();
    expect(await lagOf(metrics)).toEqual({ 'verify in[2]': 2 });

    setFailing(true);
    await poller.refresh();
    await poller.refresh();
    expect(await lagOf(metrics)).toEqual({ 'verify in[2]': 2 }); // the last values stay
    expect(warnings).toEqual(['cannot read consumer lag; retrying every interval']); // once per outage
    await poller.stop();
    expect(calls.at(-1)).toBe('disconnect');
  });

  it('joins a refresh in progress instead of starting a second one, and polls every interval once started', async () => {
    jest.useFakeTimers();
    try {
      const metrics = new StreamMetrics(new Registry(), { lagIntervalMs: 1_000 });
      new GroupWatch(metrics.node('plan'), { topic: 'in', groupId: 'g' }).attach(fakeConsumer());
      const { admin, calls } = fakeAdmin({ 0: [0, 1] }, { 0: '1' });
      const poller = new LagPoller(admin, metrics, pino({ level: 'silent' }));
      expect(poller.refresh()).toBe(poller.refresh());
      await poller.refresh();
      const before = calls.filter((c) => c.startsWith('committed')).length;
      poller.start(); // refreshes now, then every second
      await jest.advanceTimersByTimeAsync(2_500);
      expect(calls.filter((c) => c.startsWith('committed')).length - before).toBe(3);
      await poller.stop();
    } finally {
      jest.useRealTimers();
    }
  });
});
