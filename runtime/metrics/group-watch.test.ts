import { Registry } from 'prom-client';
import { GroupWatch, watchWorker } from './group-watch';
import { fakeConsumer } from './metrics.testkit';
import { StreamMetrics } from './stream-metrics';

async function value(metrics: StreamMetrics, name: 'rebalances', node: string): Promise<number | undefined> {
  return (await metrics.defs[name].get()).values.find((v) => v.labels.node === node)?.value;
}

describe('GroupWatch', () => {
  it('counts joins and says whether the member holds its partitions', async () => {
    const metrics = new StreamMetrics(new Registry());
    const consumer = fakeConsumer();
    const watch = new GroupWatch(metrics.node('verify'), { topic: 'in', groupId: 'g' }).attach(consumer);
    const assigned = () => metrics.ready.get('node:verify:assigned');
    expect(assigned()).toMatchObject({ ok: false, reason: 'not in the consumer group yet' });

    consumer.emit('GROUP_JOIN', { memberAssignment: { in: [2, 0], other: [1] } });
    expect(assigned()).toMatchObject({ ok: true, reason: 'partitions 0, 2' });
    expect([...watch.assigned]).toEqual([2, 0]);
    consumer.emit('REBALANCING');
    expect(assigned()).toMatchObject({ ok: false, reason: 'rebalancing' });
    consumer.emit('GROUP_JOIN', { memberAssignment: {} });
    expect(assigned()).toMatchObject({ ok: true, reason: 'no partitions (more members than partitions)' });
    consumer.emit('CRASH', { error: new Error('boom') });
    expect(assigned()).toMatchObject({ ok: false, reason: 'consumer crashed: Error: boom' });
    expect(await value(metrics, 'rebalances', 'verify')).toBe(2);

    expect(metrics.groups.has(watch)).toBe(true);
    watch.close();
    expect(consumer.listeners()).toBe(0);
    expect(metrics.groups.size).toBe(0);
    expect(assigned()).toMatchObject({ ok: false, reason: 'stopped' });
  });

  it('tracks how far each partition is processed, markers included, and the stretches that held no record', () => {
    const metrics = new StreamMetrics(new Registry());
    const consumer = fakeConsumer();
    const watch = new GroupWatch(metrics.node('n'), { topic: 'in', groupId: 'g', fromBeginning: false }).attach(consumer);
    watch.processed(0, 10n);
    watch.processed(0, 7n); // never backwards
    consumer.emit('END_BATCH_PROCESS', { topic: 'in', partition: 1, batchSize: 0, firstOffset: '4', lastOffset: '5' });
    consumer.emit('END_BATCH_PROCESS', { topic: 'in', partition: 1, batchSize: 3, firstOffset: '6', lastOffset: '9' }); // records: not a skip
    consumer.emit('END_BATCH_PROCESS', { topic: 'other', partition: 1, batchSize: 0, firstOffset: '7', lastOffset: '8' });
    expect(watch.progress(0)).toEqual({ processed: 10n, empty: undefined, fromBeginning: false });
    expect(watch.progress(1)).toEqual({ processed: undefined, empty: { from: 4n, to: 6n }, fromBeginning: false });
  });

  it('for a stateful node, is not ready until every owned partition is restored', () => {
    const metrics = new StreamMetrics(new Registry());
    const consumer = fakeConsumer();
    const restored = new Set<number>();
    const worker = {
      metrics: metrics.node('reward-group'),
      node: { input: 'rewards' },
      changelog: 'rewards-changelog',
      state: { isRestored: (p: number) => restored.has(p) },
    } as unknown as Parameters<typeof watchWorker>[0];
    const watch = watchWorker(worker, consumer, 'valor.reward-group', true)!;
    expect(watch.opts).toMatchObject({ topic: 'rewards', groupId: 'valor.reward-group' });
    consumer.emit('GROUP_JOIN', { memberAssignment: { rewards: [0, 1] } });
    expect(metrics.ready.get('node:reward-group:restored')).toMatchObject({ ok: false, reason: 'state of partitions 0, 1 not restored yet' });
    restored.add(0).add(1);
    expect(metrics.ready.ready).toBe(true);
    watch.close();
    expect(metrics.ready.get('node:reward-group:restored')).toBeUndefined();
    expect(watchWorker({ ...worker, metrics: undefined } as typeof worker, consumer, 'g', true)).toBeUndefined();
  });
});
