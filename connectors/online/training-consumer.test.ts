import type { Kafka } from 'kafkajs';
import { DecodeError } from '../../core/errors';
import type { LoadedSchema } from '../../schemas/catalog';
import type { ImageQuery } from '../../schemas/generated/types';
import { imageQuery } from '../../test/fixtures/records';
import { MemoryRegistry } from '../../runtime/registry/memory-registry';
import type { RegistryClient } from '../../runtime/registry/registry-client';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { Batch, TrainingConsumer, TrainingConsumerOptions } from './training-consumer';
import { FakeConsumer, StoredMessage, TOPIC } from './training-consumer.testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(opts: {
  partitions?: Array<Array<Buffer | null>>;
  registry?: RegistryClient;
  options?: Partial<TrainingConsumerOptions<ImageQuery>>;
  fetchSize?: number;
}) {
  const registry = opts.registry ?? new MemoryRegistry();
  const serdes = new SerdeSet(registry, () => 'ImageQuery');
  const log = new Map<number, StoredMessage[]>();
  (opts.partitions ?? []).forEach((values, p) =>
    log.set(
      p,
      values.map((value, i) => ({ offset: String(i), key: Buffer.from(`k${i}`), value, timestamp: String(1_700_000_000_000 + i) })),
    ),
  );
  const fake = new FakeConsumer(log, opts.fetchSize);
  const kafka = { consumer: () => fake } as unknown as Kafka;
  const consumer = new TrainingConsumer<ImageQuery>({
    kafka,
    serdes,
    topic: TOPIC,
    groupId: 'g',
    batchSize: 4,
    maxWaitMs: 250,
    pauseAfterMs: 20,
    ...opts.options,
  });
  const it = consumer.batches()[Symbol.asyncIterator]();
  const next = async (): Promise<Batch<ImageQuery>> => {
    const r = await it.next();
    if (r.done) throw new Error('generator ended');
    return r.value;
  };
  return { fake, consumer, it, next, serdes };
}

/** Encoded image queries numbered from `from`. */
async function encoded(count: number, from = 0): Promise<Buffer[]> {
  const serde = new SerdeSet(sharedRegistry, () => 'ImageQuery').for<ImageQuery>(TOPIC);
  return Promise.all(Array.from({ length: count }, (_, i) => serde.encode(imageQuery(from + i))));
}
const sharedRegistry = new MemoryRegistry();

const offsets = (b: Batch<unknown>) => b.records.map((r) => `${r.partition}@${r.offset}`);
const ids = (b: Batch<ImageQuery>) => b.records.map((r) => r.value.id);

async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('TrainingConsumer (simulated kafkajs consumer)', () => {
  it('yields full batches in order, commits offset+1 per partition only on ack, and yields a partial batch after maxWaitMs', async () => {
    const { fake, consumer, next, it } = await setup({ partitions: [await encoded(10)], registry: sharedRegistry });
    const b1 = await next();
    expect(b1.seq).toBe(1);
    expect(ids(b1)).toEqual(['q-000000', 'q-000001', 'q-000002', 'q-000003']);
    expect(b1.records[0]).toMatchObject({ topic: TOPIC, partition: 0, offset: '0', key: Buffer.from('k0'), timestamp: '1700000000000' });
    await sleep(30);
    expect(fake.commitCalls).toEqual([]); // nothing before the ack
    await b1.ack();
    expect(fake.committedOf(0)).toBe('4');
    const b2 = await next();
    expect(offsets(b2)).toEqual(['0@4', '0@5', '0@6', '0@7']);
    await b2.ack();
    expect(fake.committedOf(0)).toBe('8');
    const t0 = Date.now();
    const b3 = await next(); // only 2 left: partial after maxWaitMs
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240);
    expect(offsets(b3)).toEqual(['0@8', '0@9']);
    await b3.ack();
    expect(fake.committedOf(0)).toBe('10');
    expect(fake.subscribed).toEqual({ topics: [TOPIC], fromBeginning: true });
    expect(fake.runConfig).toMatchObject({ autoCommit: false, eachBatchAutoResolve: false });
    await it.return(undefined);
    expect(fake.disconnected).toBe(true);
    expect(consumer.stats).toMatchObject({ batches: 3, records: 10, acked: 3, commits: 3, staleAcks: 0 });
  });

  it('does not yield the next batch until the previous one is acked (maxUnacked 1)', async () => {
    const { next, consumer } = await setup({ partitions: [await encoded(12)], registry: sharedRegistry });
    const b1 = await next();
    let got: Batch<ImageQuery> | undefined;
    const pending = next().then((b) => (got = b));
    await sleep(150);
    expect(got).toBeUndefined();
    await b1.ack();
    await pending;
    expect(got!.seq).toBe(2);
    await consumer.close();
  });

  it('holds at most batchSize × maxUnacked decoded records, pausing fetches while full and resuming on ack', async () => {
    const { fake, consumer, next } = await setup({
      partitions: [await encoded(40), await encoded(40, 100)],
      registry: sharedRegistry,
      options: { batchSize: 5, maxUnacked: 2 },
    });
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(consumer.held), 2);
    const b1 = await next();
    const b2 = await next();
    await eventually(() => fake.paused, 'the consumer to pause');
    await sleep(50);
    expect(consumer.held).toBe(10); // the two batches the caller holds, nothing more
    await b1.ack();
    await eventually(() => !fake.paused || consumer.held === 10, 'a resume');
    let prev = b2;
    let total = b1.records.length + b2.records.length;
    while (total < 80) {
      const b = await next(); // two out: take the next, then ack the one before (pipelined)
      total += b.records.length;
      await sleep(3);
      await prev.ack();
      prev = b;
    }
    await prev.ack();
    clearInterval(sampler);
    expect(Math.max(...samples)).toBeLessThanOrEqual(10);
    expect(consumer.stats.maxHeld).toBeLessThanOrEqual(10);
    expect(consumer.stats.pauses).toBeGreaterThanOrEqual(1);
    expect(fake.committedOf(0)).toBe('40');
    expect(fake.committedOf(1)).toBe('40');
    await consumer.close();
  });

  it('skips undecodable records, reports them, and commits past them', async () => {
    const good = await encoded(3);
    const errors: Array<{ error: DecodeError; offset: string }> = [];
    const { fake, consumer, next } = await setup({
      partitions: [[good[0]!, Buffer.from('not avro'), null, good[1]!, good[2]!]],
      registry: sharedRegistry,
      options: { batchSize: 3, onError: (error, r) => errors.push({ error, offset: r.offset }) },
    });
    const b = await next();
    expect(offsets(b)).toEqual(['0@0', '0@3', '0@4']);
    expect(errors.map((e) => e.offset)).toEqual(['1', '2']);
    expect(errors[0]!.error).toBeInstanceOf(DecodeError);
    expect(errors[0]!.error.message).toMatch(/cannot decode value on 'valor.test-queries' as ImageQuery/);
    expect(errors[1]!.error.message).toMatch(/tombstone/);
    await b.ack();
    expect(fake.committedOf(0)).toBe('5');
    expect(consumer.stats.undecodable).toBe(2);
    await consumer.close();
  });

  it('filters records and commits a filtered tail once nothing is left to yield', async () => {
    const { fake, consumer, next } = await setup({
      partitions: [await encoded(6)],
      registry: sharedRegistry,
      options: { filter: (q) => Number(q.metadata.seq) < 3 },
    });
    const b = await next();
    expect(ids(b)).toEqual(['q-000000', 'q-000001', 'q-000002']);
    await b.ack();
    expect(fake.committedOf(0)).toBe('3');
    // Offsets 3..5 were all filtered: while the trainer waits for more, they are committed
    // after maxWaitMs with no batch to yield.
    let more: Batch<ImageQuery> | undefined;
    const waiting = next().then(
      (m) => (more = m),
      () => undefined,
    );
    await eventually(() => fake.committedOf(0) === '6', 'the filtered tail to be committed');
    expect(more).toBeUndefined();
    expect(consumer.stats.filtered).toBe(3);
    await consumer.close();
    await waiting;
  });

  it('keeps the buffer bounded through a long run of filtered records while the trainer holds a batch', async () => {
    const values = await encoded(400);
    const { fake, consumer, next } = await setup({
      partitions: [values.slice(0, 200), values.slice(200)],
      registry: sharedRegistry,
      options: { batchSize: 4, maxUnacked: 2, filter: (q) => Number(q.metadata.seq) < 4 },
      fetchSize: 7,
    });
    const b1 = await next(); // the only 4 records that pass; the rest is all filtered
    await eventually(() => consumer.stats.filtered === 396, 'every record to be read');
    // White-box: what is left are skip markers, merged to one per partition.
    expect((consumer as unknown as { buffer: { length: number } }).buffer.length).toBeLessThanOrEqual(2);
    await b1.ack();
    expect(fake.committedOf(0)).toBe('4');
    const waiting = next().catch(() => undefined);
    await eventually(() => fake.committedOf(0) === '200' && fake.committedOf(1) === '200', 'the filtered tail to be committed');
    await consumer.close();
    await waiting;
  });

  it('never commits past an un-acked batch when acks come out of order', async () => {
    const { fake, consumer, next } = await setup({
      partitions: [await encoded(6)],
      registry: sharedRegistry,
      options: { batchSize: 3, maxUnacked: 2 },
    });
    const b1 = await next();
    const b2 = await next();
    expect(offsets(b2)).toEqual(['0@3', '0@4', '0@5']);
    await b2.ack();
    expect(fake.commitCalls).toEqual([]); // b1 still out: committing 6 would skip it
    await b1.ack();
    expect(fake.commitCalls).toEqual([[{ partition: 0, offset: '6' }]]);
    await consumer.close();
  });

  it('commits each partition separately, to the end of what the batch covers in it', async () => {
    const { fake, consumer, next } = await setup({
      partitions: [await encoded(2), await encoded(2, 50)],
      registry: sharedRegistry,
      options: { batchSize: 4 },
    });
    const b = await next();
    expect(offsets(b).sort()).toEqual(['0@0', '0@1', '1@0', '1@1']);
    await b.ack();
    expect(fake.committedOf(0)).toBe('2');
    expect(fake.committedOf(1)).toBe('2');
    await consumer.close();
  });

  it('redelivers a batch whose ack comes after a rebalance, and commits nothing for it', async () => {
    const { fake, consumer, next } = await setup({ partitions: [await encoded(8)], registry: sharedRegistry });
    const b1 = await next();
    expect(offsets(b1)).toEqual(['0@0', '0@1', '0@2', '0@3']);
    fake.rebalance();
    await eventually(() => consumer.stats.rebalances >= 2, 'the rejoin');
    await b1.ack();
    expect(fake.commitCalls).toEqual([]);
    expect(consumer.stats.staleAcks).toBe(1);
    const again = await next();
    expect(offsets(again)).toEqual(['0@0', '0@1', '0@2', '0@3']);
    await again.ack();
    expect(fake.committedOf(0)).toBe('4');
    await consumer.close();
  });

  it('leaves un-acked batches uncommitted on close and refuses later acks', async () => {
    const { fake, consumer, next, it } = await setup({ partitions: [await encoded(8)], registry: sharedRegistry });
    const b1 = await next();
    await consumer.close();
    await expect(b1.ack()).rejects.toThrow(/cannot ack batch 1 of 'valor.test-queries': the consumer is closed/);
    expect(fake.commitCalls).toEqual([]);
    expect(fake.disconnected).toBe(true);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('re-reads a record whose decode failed for a retriable reason instead of skipping it', async () => {
    const inner = new MemoryRegistry();
    let failures = 2;
    const flaky: RegistryClient = {
      register: (s, schema: LoadedSchema) => inner.register(s, schema),
      encode: (id, v) => inner.encode(id, v),
      decode: (buf, reader) => {
        if (failures-- > 0) return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:38081'), { code: 'ECONNREFUSED' }));
        return inner.decode(buf, reader);
      },
    };
    const serde = new SerdeSet(inner, () => 'ImageQuery').for<ImageQuery>(TOPIC);
    const values = await Promise.all([0, 1].map((i) => serde.encode(imageQuery(i))));
    const { consumer, next } = await setup({ partitions: [values], registry: flaky, options: { decodeRetryDelayMs: 10, batchSize: 2 } });
    const b = await next();
    expect(ids(b)).toEqual(['q-000000', 'q-000001']);
    expect(consumer.stats.undecodable).toBe(0);
    await consumer.close();
  });

  it('surfaces a throwing filter to the trainer instead of skipping silently', async () => {
    const { next, fake } = await setup({
      partitions: [await encoded(2)],
      registry: sharedRegistry,
      options: {
        filter: () => {
          throw new Error('boom');
        },
      },
    });
    await expect(next()).rejects.toThrow(/filter threw for valor.test-queries\[0\]@0: boom/);
    expect(fake.disconnected).toBe(true);
  });

  it('allows one generator per consumer', async () => {
    const { consumer } = await setup({ partitions: [await encoded(1)], registry: sharedRegistry });
    expect(() => consumer.batches()).toThrow(/already has a batches\(\) generator/);
    await consumer.close();
  });
});
