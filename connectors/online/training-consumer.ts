// Feeds a training loop from a topic: a pull-based async generator of decoded batches over
// kafkajs's push-based consumer, with backpressure and offsets committed only on ack.
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { ConfigError, errorMessage } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import { AckLedger, commitEnds, type LedgerTicket } from './ack-ledger';
import { RecordBuffer, type BufferItem } from './record-buffer';
import { RecordReader } from './record-reader';
import {
  trainingConsumerSettings,
  type Batch,
  type RecordInfo,
  type TrainingConsumerOptions,
  type TrainingConsumerSettings,
  type TrainingConsumerStats,
  type TrainingRecord,
} from './training-consumer-options';
import { Wakeups } from './wakeups';
import { isGenerationError } from './generation-errors';
import { GroupWatch, type NodeMetrics } from '../../runtime/metrics/group-watch';

// The trainer's whole API from this one module (docs/online-training.md imports it from here).
export { trainingConsumerSettings };
export type { Batch, RecordInfo, TrainingConsumerOptions, TrainingConsumerSettings, TrainingConsumerStats, TrainingRecord };

type Item<T> = BufferItem<TrainingRecord<T>>;

interface OutstandingBatch {
  ticket: LedgerTicket;
  size: number;
  ackPromise?: Promise<void>;
}

/**
 * A consumer-group member that feeds a training loop.
 *
 * ```ts
 * const consumer = new TrainingConsumer<PseudoLabel>({ kafka, serdes, topic, groupId: 'trainer' });
 * for await (const batch of consumer.batches()) {
 *   await trainStep(batch.records.map((r) => r.value));
 *   await batch.ack(); // commits; without it the batch is redelivered
 * }
 * ```
 *
 * **Acks and commits.** Nothing is committed before an ack. `ack()` commits, per partition,
 * one past the last record the batch covers: its yielded records and any filtered or
 * undecodable records consumed before them. Never an offset of a later batch. With
 * `maxUnacked > 1` acks may come out of order; a partition's commit then waits until every
 * earlier batch touching it is acked too, so a commit never passes an un-acked record.
 * Records skipped after the last yielded one are committed when nothing else is left to
 * yield (after maxWaitMs), so a filtered tail is not re-read forever.
 *
 * **Redelivery (at-least-once to the trainer).** Un-acked batches are not committed. If the
 * process stops, `close()` is called, or the group rebalances, they are redelivered from the
 * last committed offset to whichever member owns the partition then, possibly this one. An
 * ack that arrives after a rebalance commits nothing (kafkajs rejoins by re-reading from the
 * committed offsets, so those records come again anyway). A trainer must tolerate seeing a
 * record twice.
 *
 * **Backpressure.** At most `maxUnacked` batches are out, and the generator does not yield
 * another until one is acked. At most `batchSize × maxUnacked` decoded records are held at
 * once, counting both the batches the caller holds and those buffered for the next batch.
 * When that is reached the consumer stops taking records. kafkajs still holds the raw bytes
 * of one fetch (its `maxBytes`, 10 MiB by default).
 *
 * **Heartbeats.** kafkajs heartbeats only from its run loop, so that loop never waits on
 * the trainer. When full, the batch handler waits at most `pauseAfterMs` for an ack
 * (heartbeating meanwhile), then pauses the topic (`consumer.pause`) and returns. A paused
 * kafkajs loop keeps polling, heartbeating and taking part in rebalances. The trainer may hold a
 * batch for longer than `sessionTimeoutMs` without being expelled from the group.
 *
 * Reads are always `read_committed`: records of aborted transactions are never yielded.
 */
export class TrainingConsumer<T> {
  readonly settings: TrainingConsumerSettings;
  readonly stats: TrainingConsumerStats = {
    batches: 0,
    records: 0,
    acked: 0,
    commits: 0,
    staleAcks: 0,
    filtered: 0,
    undecodable: 0,
    pauses: 0,
    rebalances: 0,
    maxHeld: 0,
  };

  private readonly kafka: Kafka;
  private readonly reader: RecordReader<T>;
  private readonly log: Logger;
  private consumer?: Consumer;
  private readonly metrics?: NodeMetrics;

  private started = false;
  private closing = false;
  private closePromise?: Promise<void>;
  private failure?: Error;

  // Its generation moves on every (re)join: anything read or yielded before that is read again.
  private readonly acks = new AckLedger();
  private readonly buffer = new RecordBuffer<TrainingRecord<T>>();
  private heldRecords = 0;
  private paused = false;
  private seq = 0;
  private readonly outstanding = new Map<number, OutstandingBatch>();
  private commitChain: Promise<void> = Promise.resolve();
  private readonly wakeups = new Wakeups();

  constructor(options: TrainingConsumerOptions<T>, metrics?: NodeMetrics) {
    const { kafka, serdes, registry, type, filter, onError, logger, ...rest } = options;
    const parsed = trainingConsumerSettings.safeParse(rest);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '<root>'}: ${i.message}`).join('\n');
      throw new ConfigError(`invalid TrainingConsumer options:\n${issues}`);
    }
    if (!kafka) throw new ConfigError('invalid TrainingConsumer options: kafka (a kafkajs Kafka client) is required');
    this.settings = parsed.data;
    this.metrics = metrics; // rebalances, assignment (readiness), pauses and lag; none by default
    this.kafka = kafka;
    this.log = (logger ?? silentLogger).child({ component: 'training-consumer', topic: this.settings.topic, group: this.settings.groupId });
    this.reader = new RecordReader<T>(this.settings.topic, { serdes, registry, type, filter, onError }, this.stats, this.log);
  }

  /** Decoded records held now: yielded but un-acked, plus buffered for the next batch. */
  get held(): number {
    return this.heldRecords;
  }

  private get capacity(): number {
    return this.settings.batchSize * this.settings.maxUnacked;
  }

  /**
   * The batches, in order. One generator per consumer. Leaving the loop (break, return or
   * an exception) closes the consumer; batches not acked by then are redelivered later.
   */
  batches(): AsyncGenerator<Batch<T>, void, undefined> {
    // Checked here, not in the generator body, which would only run at the first next().
    if (this.started) throw new Error(`TrainingConsumer for '${this.settings.topic}' already has a batches() generator; use one per consumer`);
    this.started = true;
    return this.generate();
  }

  private async *generate(): AsyncGenerator<Batch<T>, void, undefined> {
    try {
      await this.start();
      for (;;) {
        const batch = await this.nextBatch();
        if (!batch) return;
        yield batch;
      }
    } finally {
      await this.close();
    }
  }

  /**
   * Leaves the group. Acked batches whose commit is still pending are committed first; un-acked
   * ones are not, and are redelivered to the group. Later acks are refused.
   */
  close(): Promise<void> {
    if (!this.closePromise) this.closePromise = this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    this.wakeups.notify();
    try {
      await this.commitChain;
      await this.commitNow();
    } catch (err) {
      this.log.warn({ error: errorMessage(err) }, 'final commit failed; the last acked records will be redelivered');
    }
    if (this.outstanding.size) {
      this.log.info({ batches: [...this.outstanding.keys()] }, 'closing with un-acked batches; they will be redelivered');
    }
    await this.consumer?.disconnect().catch((err) => this.log.warn({ error: errorMessage(err) }, 'consumer disconnect failed'));
  }

  private async start(): Promise<void> {
    const s = this.settings;
    const consumer = this.kafka.consumer({
      groupId: s.groupId,
      sessionTimeout: s.sessionTimeoutMs,
      heartbeatInterval: s.heartbeatIntervalMs,
      readUncommitted: false, // read_committed: aborted transactions are never seen
      allowAutoTopicCreation: false,
      // Also how long a paused loop sleeps between polls, so it bounds the resume latency.
      maxWaitTimeInMs: 500,
    });
    this.consumer = consumer;
    if (this.metrics) new GroupWatch(this.metrics, { topic: s.topic, groupId: s.groupId, fromBeginning: s.fromBeginning }).attach(consumer);
    consumer.on(consumer.events.REBALANCING, () => this.onRejoin('rebalancing'));
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.stats.rebalances++;
      this.onRejoin('joined', e.payload.memberAssignment[s.topic] ?? []);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (this.closing) return;
      if (e.payload.restart) {
        // kafkajs restarts with a fresh group member: our pause and our reads are gone.
        this.log.warn({ error: errorMessage(e.payload.error) }, 'kafka consumer crashed; kafkajs restarts it');
        this.paused = false;
        this.onRejoin('restarting');
      } else {
        this.fail(new Error(`kafka consumer for '${s.topic}' (group '${s.groupId}') crashed: ${errorMessage(e.payload.error)}`, { cause: e.payload.error }));
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [s.topic], fromBeginning: s.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1, // one buffer in consumption order
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  // ------------------------------------------------------------------ kafkajs side (push)

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const epoch = this.acks.generation;
    for (const message of batch.messages) {
      if (!(await this.waitForRoom(payload, epoch))) return; // unresolved messages are fetched again
      const info: RecordInfo = { topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key ?? null };
      const read = await this.reader.read(message, info);
      if (read.kind === 'retry') return this.sleep(this.settings.decodeRetryDelayMs);
      if (read.kind === 'fail') return this.fail(read.error);
      if (epoch !== this.acks.generation || this.closing) return;
      this.push(read.item);
      payload.resolveOffset(message.offset); // moves kafkajs's fetch position only; commits come from acks
    }
  }

  /** Waits for room for one more decoded record; false means stop handling this batch. */
  private async waitForRoom(payload: EachBatchPayload, epoch: number): Promise<boolean> {
    const deadline = Date.now() + this.settings.pauseAfterMs;
    for (;;) {
      if (this.closing || this.failure || epoch !== this.acks.generation || !payload.isRunning() || payload.isStale()) return false;
      if (this.heldRecords < this.capacity) return true;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.pause();
        return false;
      }
      // Throws on a rebalance, which makes kafkajs rejoin at once instead of after the wait.
      await payload.heartbeat();
      await this.wakeups.wait(Math.min(left, 200));
    }
  }

  private push(item: Item<T>): void {
    this.buffer.push(item);
    if (item.kind === 'record') {
      this.heldRecords++;
      if (this.heldRecords > this.stats.maxHeld) this.stats.maxHeld = this.heldRecords;
    }
    this.wakeups.notify();
  }

  private pause(): void {
    if (this.paused || !this.consumer) return;
    this.consumer.pause([{ topic: this.settings.topic }]);
    this.paused = true;
    this.metrics?.paused('the trainer holds batchSize x maxUnacked records', false); // its pace, not an outage
    this.stats.pauses++;
    this.log.debug({ held: this.heldRecords }, 'full: fetching paused until the trainer acks');
  }

  private release(records: number): void {
    this.heldRecords -= records;
    if (this.paused && this.heldRecords < this.capacity && this.consumer && !this.closing) {
      this.consumer.resume([{ topic: this.settings.topic }]);
      this.paused = false;
      this.metrics?.paused(null, false);
    }
    this.wakeups.notify();
  }

  /** A new group generation: kafkajs re-reads every partition from its committed offset. */
  private onRejoin(reason: string, partitions?: number[]): void {
    this.acks.reset();
    const dropped = this.buffer.clear();
    this.log.info({ reason, partitions, droppedBuffered: dropped, unackedBatches: this.outstanding.size }, 'group generation changed');
    this.release(dropped);
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.wakeups.notify();
  }

  // ------------------------------------------------------------------ trainer side (pull)

  private async nextBatch(): Promise<Batch<T> | null> {
    const s = this.settings;
    while (this.outstanding.size >= s.maxUnacked) {
      if (this.failure) throw this.failure;
      if (this.closing) return null;
      await this.wakeups.wait(1_000);
    }
    // The wait for a full batch starts now, or with the first record if none is here by the deadline.
    let windowStart: number | null = Date.now();
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closing) return null;
      if (this.buffer.records >= s.batchSize) return this.cut();
      const now = Date.now();
      if (windowStart === null) {
        if (this.buffer.records > 0) windowStart = now;
      } else if (now - windowStart >= s.maxWaitMs) {
        if (this.buffer.records > 0) return this.cut();
        this.settleSkipped();
        windowStart = null;
      }
      await this.wakeups.wait(windowStart === null ? 1_000 : Math.max(1, windowStart + s.maxWaitMs - now));
    }
  }

  private cut(): Batch<T> {
    const items = this.buffer.take(this.settings.batchSize);
    const records = items.flatMap((it) => (it.kind === 'record' ? [it.record] : []));
    const seq = ++this.seq;
    const state: OutstandingBatch = { ticket: this.acks.cut(seq, commitEnds(items)), size: records.length };
    this.outstanding.set(seq, state);
    this.stats.batches++;
    this.stats.records += records.length;
    return { seq, records, ack: () => this.ack(state) };
  }

  /** Nothing to yield but skipped records: commit past them (in order with any un-acked batch). */
  private settleSkipped(): void {
    if (this.buffer.length === 0) return;
    if (this.acks.skipped(commitEnds(this.buffer.takeAll()))) {
      this.commit().catch((err) => this.log.warn({ error: errorMessage(err) }, 'committing past skipped records failed; they may be skipped again later'));
    }
  }

  private ack(state: OutstandingBatch): Promise<void> {
    if (!state.ackPromise) state.ackPromise = this.doAck(state);
    return state.ackPromise;
  }

  private async doAck(b: OutstandingBatch): Promise<void> {
    const { seq } = b.ticket;
    if (this.closing) {
      throw new Error(`cannot ack batch ${seq} of '${this.settings.topic}': the consumer is closed, so it stays uncommitted and will be redelivered`);
    }
    this.outstanding.delete(seq);
    this.stats.acked++;
    this.release(b.size);
    const result = this.acks.ack(b.ticket);
    if (result === 'stale') {
      this.stats.staleAcks++;
      this.log.warn({ batch: seq }, 'ack after a rebalance: nothing committed, the records are redelivered from the last commit');
      return;
    }
    if (result === 'commit') await this.commit();
  }

  /** Commits run one at a time, so an older, lower offset never lands after a newer one. */
  private commit(): Promise<void> {
    const run = this.commitChain.then(() => this.commitNow());
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  private async commitNow(): Promise<void> {
    if (!this.consumer) return;
    const generation = this.acks.generation;
    const pending = this.acks.pending();
    const offsets = pending.map((o) => ({ topic: this.settings.topic, ...o }));
    if (!offsets.length) return;
    try {
      await this.consumer.commitOffsets(offsets);
    } catch (err) {
      if (isGenerationError(err)) {
        this.log.warn({ offsets, error: errorMessage(err) }, 'commit refused by a rebalance; the records are redelivered');
        return;
      }
      const where = offsets.map((o) => `${o.partition}@${o.offset}`).join(', ');
      throw new Error(`committing offsets of '${this.settings.topic}' for group '${this.settings.groupId}' (${where}) failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    this.stats.commits++;
    this.acks.committedAt(pending, generation);
  }

  // ------------------------------------------------------------------ wake-ups

  /** Sleeps `ms`, or less if the consumer closes meanwhile. */
  private async sleep(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!this.closing && Date.now() < end) await this.wakeups.wait(end - Date.now());
  }
}
