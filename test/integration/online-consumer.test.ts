import { Command } from 'commander';
import { Partitioners } from 'kafkajs';
import type { Kafka } from 'kafkajs';
import { PassThrough } from 'node:stream';
import { registerConsumeCommand } from '../../cli/commands/consume';
import { lineageOf } from '../../core/lineage';
import { silentLogger } from '../../core/logger';
import { Batch, TrainingConsumer, TrainingConsumerOptions } from '../../connectors/online/training-consumer';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import type { PseudoLabel } from '../../schemas/generated/types';
import { runId, services, testKafka, testRegistry } from './services';

jest.setTimeout(180_000);

/** A valid pseudo-label, shaped as the verify node writes them (processors/verify.ts). */
function pseudoLabel(i: number, opts: { accepted?: boolean } = {}): PseudoLabel {
  const box = { x1: 10 + i, y1: 20, x2: 110 + i, y2: 220, label: 'red circle', score: 0.42 };
  return {
    id: `pl-${String(i).padStart(5, '0')}`,
    proposalsId: `prop-${i}`,
    queryId: `q-${i}`,
    image: { uri: null, bytes: Buffer.from(`png bytes ${i}`), sha256: 'ab'.repeat(32), width: 640, height: 480, mediaType: 'image/png' },
    width: 640,
    height: 480,
    accepted: opts.accepted === false ? [] : [box],
    negatives: [{ box: { ...box, label: 'blue square' }, rejectedAt: 'CROP', reason: 'not a square' }],
    verifierVersion: 'test-verifier',
    usage: { calls: 3, inputTokens: 1200, cachedInputTokens: 0, outputTokens: 40, costUsd: 0.0004 },
    createdAt: 1_700_000_000_000 + i,
    lineage: lineageOf('verify', [`prop-${i}`, `q-${i}`], { verifier: 'test-verifier' }),
  };
}

async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
  } finally {
    await admin.disconnect();
  }
}

/** The group's committed offsets, summed over partitions (a count, since topics start at 0). */
async function committedTotal(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (t?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

async function produce(kafka: Kafka, serdes: SerdeSet, topic: string, labels: PseudoLabel[]): Promise<void> {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const serde = serdes.for<PseudoLabel>(topic);
  const messages = await Promise.all(labels.map(async (l) => ({ key: l.queryId, value: await serde.encode(l) })));
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();
}

const ids = (b: Batch<PseudoLabel>) => b.records.map((r) => r.value.id);

describe('online-training consumer on the real broker and registry', () => {
  const kafka = testKafka('valor-online-test');
  const registry = testRegistry();
  const serdes = new SerdeSet(registry, () => 'PseudoLabel');

  function consumer(topic: string, groupId: string, opts: Partial<TrainingConsumerOptions<PseudoLabel>> = {}) {
    return new TrainingConsumer<PseudoLabel>({ kafka, serdes, topic, groupId, batchSize: 10, maxWaitMs: 3_000, logger: silentLogger, ...opts });
  }

  it('redelivers the un-acked batch to the next member of the group, and never an acked one', async () => {
    const id = runId();
    const topic = `it.${id}.pl`;
    const groupId = `trainer.${id}`;
    await createTopic(kafka, topic, 3);
    const N = 60;
    const all = Array.from({ length: N }, (_, i) => pseudoLabel(i));
    await produce(kafka, serdes, topic, all);

    // First trainer: acks three batches, then "crashes" holding the fourth.
    const first = consumer(topic, groupId);
    const acked: string[] = [];
    let unacked: string[] = [];
    for await (const batch of first.batches()) {
      expect(batch.records).toHaveLength(10);
      if (batch.seq <= 3) {
        await batch.ack();
        acked.push(...ids(batch));
      } else {
        unacked = ids(batch);
        break; // leaving the loop closes the consumer without acking
      }
    }
    expect(acked).toHaveLength(30);
    expect(await committedTotal(kafka, groupId, topic)).toBe(30);

    // Second trainer, same group: gets everything not acked, including the crashed batch.
    const second = consumer(topic, groupId);
    const seen: string[] = [];
    const offsetsByPartition = new Map<number, number[]>();
    for await (const batch of second.batches()) {
      seen.push(...ids(batch));
      for (const r of batch.records) offsetsByPartition.set(r.partition, [...(offsetsByPartition.get(r.partition) ?? []), Number(r.offset)]);
      await batch.ack();
      if (seen.length >= N - acked.length) break;
    }
    expect(seen).toHaveLength(N - acked.length);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((s) => acked.includes(s))).toEqual([]);
    expect(seen).toEqual(expect.arrayContaining(unacked));
    expect(new Set([...acked, ...seen])).toEqual(new Set(all.map((l) => l.id)));
    expect(await committedTotal(kafka, groupId, topic)).toBe(N);
    // Within each partition, records arrive in offset order with no gaps from the commit on.
    for (const offs of offsetsByPartition.values()) expect(offs).toEqual(offs.map((_, k) => offs[0]! + k));
    expect(second.stats).toMatchObject({ staleAcks: 0, undecodable: 0 });
  });

  it('never holds more than batchSize × maxUnacked decoded records with a slow trainer, and stays in the group while it holds a batch past the session timeout', async () => {
    const id = runId();
    const topic = `it.${id}.pl`;
    const groupId = `trainer.${id}`;
    await createTopic(kafka, topic, 2);
    const N = 120;
    await produce(
      kafka,
      serdes,
      topic,
      Array.from({ length: N }, (_, i) => pseudoLabel(i)),
    );

    const c = consumer(topic, groupId, { batchSize: 8, maxUnacked: 2, maxWaitMs: 500, pauseAfterMs: 100, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 });
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(c.held), 5);
    const seen = new Set<string>();
    let prev: Batch<PseudoLabel> | undefined;
    let heldLong = false;
    try {
      for await (const batch of c.batches()) {
        for (const r of batch.records) seen.add(r.value.id);
        // A slow step; the first one outlasts the 6 s session timeout.
        await new Promise((r) => setTimeout(r, heldLong ? 150 : 9_000));
        heldLong = true;
        await prev?.ack(); // pipelined: two batches out at a time
        prev = batch;
        if (seen.size >= N) break;
      }
      await prev?.ack().catch(() => undefined);
    } finally {
      clearInterval(sampler);
    }
    expect(seen.size).toBe(N);
    expect(Math.max(...samples)).toBeLessThanOrEqual(16);
    expect(c.stats.maxHeld).toBeLessThanOrEqual(16);
    expect(c.stats.pauses).toBeGreaterThan(0);
    // Heartbeats went on while paused: no rebalance, so every ack committed.
    expect(c.stats.rebalances).toBe(1);
    expect(c.stats.staleAcks).toBe(0);
  });

  it('on a rebalance, a batch held across it is not committed by its ack and is redelivered', async () => {
    const id = runId();
    const topic = `it.${id}.pl`;
    const groupId = `trainer.${id}`;
    await createTopic(kafka, topic, 2);
    const N = 40;
    await produce(
      kafka,
      serdes,
      topic,
      Array.from({ length: N }, (_, i) => pseudoLabel(i)),
    );
    const opts = { batchSize: 10, maxWaitMs: 2_000, pauseAfterMs: 100, heartbeatIntervalMs: 500, sessionTimeoutMs: 10_000 };

    const a = consumer(topic, groupId, opts);
    const itA = a.batches()[Symbol.asyncIterator]();
    const held = (await itA.next()).value as Batch<PseudoLabel>;
    expect(held.records).toHaveLength(10);

    // A second trainer joins the group while the first still holds its batch.
    const b = consumer(topic, groupId, opts);
    const itB = b.batches()[Symbol.asyncIterator]();
    const firstOfB = itB.next();
    const deadline = Date.now() + 60_000;
    while (a.stats.rebalances < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(a.stats.rebalances).toBeGreaterThanOrEqual(2);
    await held.ack();
    expect(a.stats.staleAcks).toBe(1);
    expect(await committedTotal(kafka, groupId, topic)).toBe(0);

    // Between them, the two members now read everything, the held batch included.
    const seenAfter: string[] = [];
    let stop = false;
    const drain = async (it: AsyncIterator<Batch<PseudoLabel>>, first?: Promise<IteratorResult<Batch<PseudoLabel>>>) => {
      let r = await (first ?? it.next());
      while (!r.done) {
        seenAfter.push(...ids(r.value));
        await r.value.ack();
        if (new Set(seenAfter).size >= N) stop = true;
        if (stop) break;
        r = await it.next();
      }
    };
    const both = Promise.all([drain(itA), drain(itB, firstOfB)]);
    while (!stop && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await Promise.all([a.close(), b.close()]);
    await both;
    expect(new Set(seenAfter).size).toBe(N);
    expect(seenAfter).toEqual(expect.arrayContaining(ids(held)));
    expect(await committedTotal(kafka, groupId, topic)).toBe(N);
  });

  it('never yields records of an aborted transaction (read_committed)', async () => {
    const id = runId();
    const topic = `it.${id}.pl`;
    await createTopic(kafka, topic, 1);
    const serde = serdes.for<PseudoLabel>(topic);
    const producer = kafka.producer({ transactionalId: `txn.${id}`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    const send = async (from: number, count: number, outcome: 'commit' | 'abort') => {
      const txn = await producer.transaction();
      const messages = await Promise.all(Array.from({ length: count }, async (_, i) => ({ key: 'k', value: await serde.encode(pseudoLabel(from + i)) })));
      await txn.send({ topic, messages, acks: -1 });
      await (outcome === 'commit' ? txn.commit() : txn.abort());
    };
    await send(0, 5, 'commit');
    await send(100, 5, 'abort');
    await send(5, 5, 'commit');
    await send(200, 5, 'abort');
    await send(10, 5, 'commit');
    await producer.disconnect();

    const c = consumer(topic, `trainer.${id}`, { batchSize: 5, maxWaitMs: 500 });
    const seen: string[] = [];
    for await (const batch of c.batches()) {
      seen.push(...ids(batch));
      await batch.ack();
      if (seen.length >= 15) break;
    }
    expect(seen).toEqual(Array.from({ length: 15 }, (_, i) => pseudoLabel(i).id));
    // Linger: nothing from the aborted transactions shows up later either.
    const late = consumer(topic, `trainer.${id}`, { batchSize: 5, maxWaitMs: 300 });
    const it = late.batches()[Symbol.asyncIterator]();
    const extra = await Promise.race([it.next().then((r) => (r.done ? [] : ids(r.value))), new Promise<string[]>((r) => setTimeout(() => r([]), 5_000))]);
    await late.close();
    await it.return(undefined);
    expect(extra).toEqual([]);
  });

  it('skips undecodable and filtered records, reports them, and commits past them', async () => {
    const id = runId();
    const topic = `it.${id}.pl`;
    const groupId = `trainer.${id}`;
    await createTopic(kafka, topic, 1);
    const serde = serdes.for<PseudoLabel>(topic);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    const values = [
      await serde.encode(pseudoLabel(0)),
      Buffer.from('definitely not avro'),
      await serde.encode(pseudoLabel(1, { accepted: false })), // negative-only: filtered
      await serde.encode(pseudoLabel(2)),
      await serde.encode(pseudoLabel(3, { accepted: false })), // filtered tail
    ];
    await producer.send({ topic, messages: values.map((value) => ({ key: 'k', value })), acks: -1 });
    await producer.disconnect();

    const errors: string[] = [];
    const c = consumer(topic, groupId, {
      batchSize: 2,
      maxWaitMs: 2_000, // generous: the first batch must be the full two records, not a slow partial
      filter: (pl) => pl.accepted.length > 0,
      onError: (err, r) => errors.push(`${r.offset}: ${err.message}`),
    });
    const it = c.batches()[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    const batch = first.value as Batch<PseudoLabel>;
    expect(ids(batch)).toEqual(['pl-00000', 'pl-00002']);
    await batch.ack();
    expect(await committedTotal(kafka, groupId, topic)).toBe(4);
    // While the trainer waits for more, the filtered tail is committed too.
    const pending = it.next();
    const deadline = Date.now() + 10_000;
    while ((await committedTotal(kafka, groupId, topic)) < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await committedTotal(kafka, groupId, topic)).toBe(5);
    await c.close();
    expect((await pending).done).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^1: cannot decode value on 'it\..*\.pl' as PseudoLabel/);
    expect(c.stats).toMatchObject({ undecodable: 1, filtered: 2 });
  });

  it('the consume CLI prints one JSON line per batch and commits what it printed', async () => {
    const id = runId();
    const topic = `it.${id}.pl`;
    const groupId = `cli.${id}`;
    await createTopic(kafka, topic, 2);
    await produce(
      kafka,
      serdes,
      topic,
      Array.from({ length: 12 }, (_, i) => pseudoLabel(i)),
    );

    const { bootstrap, registryUrl } = services();
    const env = { KAFKA_BOOTSTRAP: process.env.KAFKA_BOOTSTRAP, SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL };
    process.env.KAFKA_BOOTSTRAP = bootstrap;
    process.env.SCHEMA_REGISTRY_URL = registryUrl;
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (d) => (text += d.toString()));
    try {
      const program = new Command('valor-stream').exitOverride();
      registerConsumeCommand(program, { stdout, logger: silentLogger, handleSignals: false });
      await program.parseAsync(
        [
          'consume',
          '--topic',
          topic,
          '--type',
          'PseudoLabel',
          '--group',
          groupId,
          '--batch-size',
          '5',
          '--max-wait-ms',
          '5000',
          '--max-batches',
          '2',
          '--from-beginning',
        ],
        { from: 'user' },
      );
    } finally {
      for (const [k, v] of Object.entries(env))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.batch)).toEqual([1, 2]);
    expect(lines.map((l) => l.records.length)).toEqual([5, 5]);
    const rec = lines[0].records[0];
    expect(rec.id).toMatch(/^pl-\d{5}$/);
    const i = Number(rec.id.slice(3));
    expect(Buffer.from(rec.image.bytes, 'base64').toString()).toBe(`png bytes ${i}`);
    expect(await committedTotal(kafka, groupId, topic)).toBe(10);
  });
});
