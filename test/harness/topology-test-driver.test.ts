// The driver's own clock: it moves only when told, punctuations fire from advancing it,
// and a restart resumes on the same log. Timing is asserted exactly, so a slow machine
// cannot change the outcome.
import { map } from 'rxjs';
import { z } from 'zod';
import { defineProcessor } from '../../core/processor';
import { resourceKind } from '../../core/resources';
import { lookupProcessor } from '../../processors';
import type { ImageQuery } from '../../schemas/generated/types';
import { passthroughTopology } from '../../topology/valor-topology';
import { imageQuery } from '../fixtures/records';
import { TopologyTestDriver } from './topology-test-driver';

const T0 = 1_700_000_000_000;
const IN = 'valor.image-queries';
const OUT = 'valor.image-queries-checked';

/** Forwards records and logs every punctuation as [partition, wall time]. */
function ticking(): { ticks: Array<[number, number]>; driver: (initial?: number) => TopologyTestDriver } {
  const ticks: Array<[number, number]> = [];
  const tick = defineProcessor({
    kind: 'tick',
    description: 'test: forwards records, logs punctuations',
    input: 'ImageQuery',
    outputs: { out: 'ImageQuery' },
    config: z.unknown(),
    create: (_config, ctx) => {
      ctx.schedule(1_000, (partition, now) => {
        ticks.push([partition, now]);
        return [];
      });
      return (input$) => input$.pipe(map((rec) => ({ input: rec, outputs: [{ port: 'out', key: rec.key ?? rec.value.id, value: rec.value }] })));
    },
  });
  const topology = passthroughTopology({ partitions: 2 });
  topology.nodes = topology.nodes.map((n) => ({ ...n, processor: 'tick' }));
  const lookup = (k: string) => (k === 'tick' ? tick : lookupProcessor(k));
  return { ticks, driver: (initial = T0) => new TopologyTestDriver(topology, { lookup, initialWallClockTime: initial }) };
}

describe('TopologyTestDriver', () => {
  it('keeps wall-clock time still until told, and stamps piped records with it', async () => {
    const { driver } = ticking();
    const d = driver();
    await d.pipe(IN, [imageQuery(0)]);
    await d.pipe(IN, [{ key: 'k', value: imageQuery(1), timestamp: 5 }]);
    await d.pipe(IN, [imageQuery(2)], { timestamp: 7 });
    await d.advanceWallClockTime(250);
    await d.pipe(IN, [imageQuery(3)]);
    expect(d.wallClockTime).toBe(T0 + 250);
    const stamps = new Map((await d.readAll<ImageQuery>(IN)).map((r) => [r.value.id, r.timestamp]));
    expect([0, 1, 2, 3].map((i) => stamps.get(imageQuery(i).id))).toEqual([T0, 5, 7, T0 + 250]);
    await expect(d.advanceWallClockTime(-1)).rejects.toThrow(/only advance/);
  });

  it('fires due punctuations from advancing wall-clock time, once per advance, with no records', async () => {
    const { ticks, driver } = ticking();
    const d = driver();
    await d.runUntilIdle(); // a process punctuates as it starts
    expect(ticks).toEqual([
      [0, T0],
      [1, T0],
    ]);
    await d.advanceWallClockTime(999);
    expect(ticks).toHaveLength(2); // not due: 999 ms of 1000
    await d.advanceWallClockTime(1);
    expect(ticks.slice(2)).toEqual([
      [0, T0 + 1_000],
      [1, T0 + 1_000],
    ]);
    // A long advance fires once at the new time; skipped intervals are not replayed.
    await d.advanceWallClockTime(10_000);
    expect(ticks.slice(4)).toEqual([
      [0, T0 + 11_000],
      [1, T0 + 11_000],
    ]);
  });

  it('restarts on the same log: committed records are not processed again, and downtime fires nothing', async () => {
    const { ticks, driver } = ticking();
    const d = driver();
    await d.pipe(IN, [imageQuery(0), imageQuery(1)]);
    expect(await d.readNew(OUT)).toHaveLength(2);
    ticks.length = 0;

    await d.restart({ downtimeMs: 5_000 });
    expect(ticks).toEqual([]);
    expect(d.wallClockTime).toBe(T0 + 5_000);
    await d.pipe(IN, [imageQuery(2)]);
    expect((await d.readNew<ImageQuery>(OUT)).map((r) => r.value.id)).toEqual([imageQuery(2).id]);
    expect(await d.readAll(OUT)).toHaveLength(3);
    expect(ticks).toEqual([
      [0, T0 + 5_000],
      [1, T0 + 5_000],
    ]);
    await d.close();
  });

  it('closes each processor after its work, then the runtime resources; a restarted runtime gets its own', async () => {
    const events: string[] = [];
    let made = 0;
    const kind = resourceKind<number>('counter', (n) => void events.push(`release resource ${n}`));
    const holding = defineProcessor({
      kind: 'holding',
      description: 'test: holds a shared resource, logs its lifecycle',
      input: 'ImageQuery',
      outputs: { out: 'ImageQuery' },
      config: z.unknown(),
      prepare: async (_config, ctx) => void events.push(`prepare with resource ${ctx.resources.get(kind, 'k', () => ++made)}`),
      create: (_config, ctx) => {
        const n = ctx.resources.get(kind, 'k', () => ++made);
        ctx.onClose(() => void events.push(`close node with resource ${n}`));
        return (input$) =>
          input$.pipe(
            map((rec) => {
              events.push(`process ${rec.value.id}`);
              return { input: rec, outputs: [{ port: 'out', key: rec.value.id, value: rec.value }] };
            }),
          );
      },
    });
    const topology = passthroughTopology({ partitions: 1 });
    topology.nodes = topology.nodes.map((n) => ({ ...n, processor: 'holding' }));
    const driver = new TopologyTestDriver(topology, { lookup: (k) => (k === 'holding' ? holding : lookupProcessor(k)) });
    await driver.pipe<'ImageQuery'>(IN, [imageQuery(1)]);
    await driver.restart();
    await driver.pipe<'ImageQuery'>(IN, [imageQuery(2)]);
    await driver.close();
    expect(events).toEqual([
      'prepare with resource 1',
      'process q-000001',
      'close node with resource 1',
      'release resource 1',
      'prepare with resource 2',
      'process q-000002',
      'close node with resource 2',
      'release resource 2',
    ]);
  });
});
