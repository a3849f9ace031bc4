// Feeds a training loop from a topic: a pull-based async generator of decoded batches over
// kafkajs's push-based consumer, with backpressure and offsets committed only on ack.
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { z } from 'zod';
import { ConfigError, DecodeError, errorMessage, isRetriable } from '../../core/errors';
import { silentLogger, type Logger } from '../../core/logger';
import type { RecordTypeName } from '../../schemas/catalog';
import type { RegistryClient } from '../../runtime/registry/registry-client';
import { TopicSerde, type SerdeSet } from '../../runtime/serde/topic-serde';

/** Where a record sits in Kafka. */
export interface RecordInfo {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
}

/** One decoded record handed to the trainer. */
export interface TrainingRecord<T> extends RecordInfo {
  value: T;
  /** Kafka timestamp in ms since the epoch, as kafkajs gives it (a string). */
  timestamp: string;
}

/**
 * A batch of decoded records. `ack()` commits the batch's offsets (see TrainingConsumer for
 * exactly which); until then the records count against the consumer's memory bound and
 * will be redelivered if this process stops or the group rebalances.
 */
export interface Batch<T> {
  /** 1, 2, 3… per consumer, in the order the batches were yielded. */
  readonly seq: number;
  readonly records: ReadonlyArray<TrainingRecord<T>>;
  ack(): Promise<void>;
}

export interface TrainingConsumerStats {
  /** Batches yielded and the records in them. */
  batches: number;
  records: number;
  /** Batches acked, and offset commits sent for them. */
  acked: number;
  commits: number;
  /** Acks that committed nothing because a rebalance came first; those records are redelivered. */
  staleAcks: number;
  /** Records the filter rejected, and records that did not decode; both are skipped. */
  filtered: number;
  undecodable: number;
  /** Times fetching was paused because the trainer held batchSize × maxUnacked records. */
  pauses: number;
  /** Group joins, the first one included; each rebalance or restart after a crash adds one. */
  rebalances: number;
  /** The most decoded records held at once (yielded but un-acked, plus buffered). */
  maxHeld: number;
}

export const trainingConsumerSettings = z
  .object({
    topic: z.string().min(1),
    groupId: z.string().min(1),
    /** Records per batch; a batch is smaller only when maxWaitMs passes first. */
    batchSize: z.number().int().min(1).max(1_000_000).default(32),
    /** How long to wait for a full batch before yielding what there is (never an empty batch). */
    maxWaitMs: z.number().int().min(0).max(3_600_000).default(1_000),
    /** Batches the caller may hold un-acked; the generator waits for an ack beyond this. */
    maxUnacked: z.number().int().min(1).max(1_024).default(1),
    /** Where a group with no committed offset starts: the earliest retained record, or only new ones. */
    fromBeginning: z.boolean().default(true),
    sessionTimeoutMs: z.number().int().min(6_000).default(30_000),
    heartbeatIntervalMs: z.number().int().min(100).default(3_000),
    /**
     * While full, the batch handler waits this long for an ack (heartbeating) before it
     * pauses fetching and lets kafkajs's loop idle. Short enough not to stall rebalances;
     * long enough that a fast trainer never pays for a pause/resume round trip.
     */
    pauseAfterMs: z.number().int().min(0).max(10_000).default(2_000),
    /** Wait before re-reading a record whose decode failed for a retriable reason (registry down). */
    decodeRetryDelayMs: z.number().int().min(0).max(60_000).default(1_000),
  })
  .strict();
export type TrainingConsumerSettings = z.infer<typeof trainingConsumerSettings>;

export interface TrainingConsumerOptions<T> extends z.input<typeof trainingConsumerSettings> {
  kafka: Kafka;
  /** Decode with the topic's serde from this set (its type comes from the set's topic map)… */
  serdes?: SerdeSet;
  /** …or with this registry and record type. */
  registry?: RegistryClient;
  type?: RecordTypeName;
  /** Return false to skip a record (it is committed with its batch but never yielded). */
  filter?: (value: T, record: RecordInfo) => boolean;
  /** Called for each undecodable record, which is then skipped. Default: a warning in the log. */
  onError?: (error: DecodeError, record: RecordInfo) => void;
  logger?: Logger;
}

type Item<T> =
  | { kind: 'record'; partition: number; offset: string; record: TrainingRecord<T> }
  | { kind: 'skip'; partition: number; offset: string };

interface LedgerEntry {
  seq: number;
  /** The offset to commit once this entry and every entry before it are acked. */
  next: bigint;
  acked: boolean;
}

interface OutstandingBatch {
  seq: number;
  epoch: number;
  partitions: number[];
  size: number;
  ackPromise?: Promise<void>;
}

/** Errors that mean the group moved to a new generation: the commit is moot, not failed. */
const GENERATION_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

function isGenerationError(err: unknown): boolean {
  let e = err as { type?: string; originalError?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (e.type && GENERATION_ERRORS.has(e.type)) return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
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
    batches: 0, records: 0, acked: 0, commits: 0, staleAcks: 0, filtered: 0, undecodable: 0, pauses: 0, rebalances: 0, maxHeld: 0,
  };

  private readonly kafka: Kafka;
  private readonly serde: TopicSerde<T>;
  private readonly filter?: (value: T, record: RecordInfo) => boolean;
  private readonly onError?: (error: DecodeError, record: RecordInfo) => void;
  private readonly log: Logger;
  private consumer?: Consumer;

  private started = false;
  private closing = false;
  private closePromise?: Promise<void>;
  private failure?: Error;

  // Bumped on every (re)join: anything read or yielded before it will be read again.
  private epoch = 0;
  private buffer: Array<Item<T>> = [];
  private bufferedRecords = 0;
  private heldRecords = 0;
  private paused = false;
  private seq = 0;
  private readonly outstanding = new Map<number, OutstandingBatch>();
  private readonly ledgers = new Map<number, LedgerEntry[]>();
  private readonly commitTarget = new Map<number, bigint>();
  private readonly committed = new Map<number, bigint>();
  private commitChain: Promise<void> = Promise.resolve();
  private waiters: Array<() => void> = [];

  constructor(options: TrainingConsumerOptions<T>) {
    const { kafka, serdes, registry, type, filter, onError, logger, ...rest } = options;
    const parsed = trainingConsumerSettings.safeParse(rest);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '<root>'}: ${i.message}`).join('\n');
      throw new ConfigError(`invalid TrainingConsumer options:\n${issues}`);
    }
    if (!kafka) throw new ConfigError('invalid TrainingConsumer options: kafka (a kafkajs Kafka client) is required');
    this.settings = parsed.data;
    this.kafka = kafka;
    if (serdes) this.serde = serdes.for<T>(this.settings.topic);
    else if (registry && type) this.serde = new TopicSerde<T>(this.settings.topic, type, registry);
    else {
      throw new ConfigError(
        `invalid TrainingConsumer options for topic '${this.settings.topic}': give serdes, or registry together with type (e.g. 'PseudoLabel')`,
      );
    }
    this.filter = filter;
    this.onError = onError;
    this.log = (logger ?? silentLogger).child({ component: 'training-consumer', topic: this.settings.topic, group: this.settings.groupId });
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
    this.changed();
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
    const epoch = this.epoch;
    for (const message of batch.messages) {
      if (!(await this.waitForRoom(payload, epoch))) return; // unresolved messages are fetched again
      const info: RecordInfo = { topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key ?? null };
      const item = await this.read(message, info);
      if (!item || epoch !== this.epoch || this.closing) return;
      this.push(item);
      payload.resolveOffset(message.offset); // moves kafkajs's fetch position only; commits come from acks
    }
  }

  /** Waits for room for one more decoded record; false means stop handling this batch. */
  private async waitForRoom(payload: EachBatchPayload, epoch: number): Promise<boolean> {
    const deadline = Date.now() + this.settings.pauseAfterMs;
    for (;;) {
      if (this.closing || this.failure || epoch !== this.epoch || !payload.isRunning() || payload.isStale()) return false;
      if (this.heldRecords < this.capacity) return true;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.pause();
        return false;
      }
      // Throws on a rebalance, which makes kafkajs rejoin at once instead of after the wait.
      await payload.heartbeat();
      await this.waitChange(Math.min(left, 200));
    }
  }

  private async read(message: KafkaMessage, info: RecordInfo): Promise<Item<T> | null> {
    let value: T;
    try {
      value = await this.serde.decode(message.value ?? null);
    } catch (err) {
      if (isRetriable(err)) {
        // The registry is unreachable: skipping would lose a good record, so read it again later.
        this.log.warn({ partition: info.partition, offset: info.offset, error: errorMessage(err) }, 'decode failed for a retriable reason; retrying');
        await this.sleep(this.settings.decodeRetryDelayMs);
        return null;
      }
      this.stats.undecodable++;
      const error = err instanceof DecodeError ? err : new DecodeError(errorMessage(err), { cause: err });
      try {
        if (this.onError) this.onError(error, info);
        else this.log.warn({ partition: info.partition, offset: info.offset, error: error.message }, 'skipping an undecodable record (it is in the dead-letter topic upstream)');
      } catch (hookErr) {
        this.fail(new Error(`onError threw for ${info.topic}[${info.partition}]@${info.offset}: ${errorMessage(hookErr)}`, { cause: hookErr }));
        return null;
      }
      return { kind: 'skip', partition: info.partition, offset: info.offset };
    }
    if (this.filter) {
      let keep: boolean;
      try {
        keep = this.filter(value, info);
      } catch (err) {
        this.fail(new Error(`filter threw for ${info.topic}[${info.partition}]@${info.offset}: ${errorMessage(err)}`, { cause: err }));
        return null;
      }
      if (!keep) {
        this.stats.filtered++;
        return { kind: 'skip', partition: info.partition, offset: info.offset };
      }
    }
    return { kind: 'record', partition: info.partition, offset: info.offset, record: { ...info, value, timestamp: message.timestamp } };
  }

  private push(item: Item<T>): void {
    if (item.kind === 'skip') {
      // Skipped records only matter for the offset they let us commit past. Among the skips
      // after the last buffered record, keep one per partition (the highest), so a long run of
      // filtered records cannot grow the buffer while the trainer holds batches.
      for (let i = this.buffer.length - 1; i >= 0 && this.buffer[i]!.kind === 'skip'; i--) {
        if (this.buffer[i]!.partition === item.partition) {
          this.buffer[i] = item;
          this.changed();
          return;
        }
      }
    }
    this.buffer.push(item);
    if (item.kind === 'record') {
      this.bufferedRecords++;
      this.heldRecords++;
      if (this.heldRecords > this.stats.maxHeld) this.stats.maxHeld = this.heldRecords;
    }
    this.changed();
  }

  private pause(): void {
    if (this.paused || !this.consumer) return;
    this.consumer.pause([{ topic: this.settings.topic }]);
    this.paused = true;
    this.stats.pauses++;
    this.log.debug({ held: this.heldRecords }, 'full: fetching paused until the trainer acks');
  }

  private release(records: number): void {
    this.heldRecords -= records;
    if (this.paused && this.heldRecords < this.capacity && this.consumer && !this.closing) {
      this.consumer.resume([{ topic: this.settings.topic }]);
      this.paused = false;
    }
    this.changed();
  }

  /** A new group generation: kafkajs re-reads every partition from its committed offset. */
  private onRejoin(reason: string, partitions?: number[]): void {
    this.epoch++;
    const dropped = this.bufferedRecords;
    this.buffer = [];
    this.bufferedRecords = 0;
    this.ledgers.clear();
    this.commitTarget.clear();
    this.committed.clear();
    this.log.info({ reason, partitions, droppedBuffered: dropped, unackedBatches: this.outstanding.size }, 'group generation changed');
    this.release(dropped);
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.changed();
  }

  // ------------------------------------------------------------------ trainer side (pull)

  private async nextBatch(): Promise<Batch<T> | null> {
    const s = this.settings;
    while (this.outstanding.size >= s.maxUnacked) {
      if (this.failure) throw this.failure;
      if (this.closing) return null;
      await this.waitChange(1_000);
    }
    // The wait for a full batch starts now, or with the first record if none is here by the deadline.
    let windowStart: number | null = Date.now();
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closing) return null;
      if (this.bufferedRecords >= s.batchSize) return this.cut();
      const now = Date.now();
      if (windowStart === null) {
        if (this.bufferedRecords > 0) windowStart = now;
      } else if (now - windowStart >= s.maxWaitMs) {
        if (this.bufferedRecords > 0) return this.cut();
        this.settleSkipped();
        windowStart = null;
      }
      await this.waitChange(windowStart === null ? 1_000 : Math.max(1, windowStart + s.maxWaitMs - now));
    }
  }

  private cut(): Batch<T> {
    const take = Math.min(this.settings.batchSize, this.bufferedRecords);
    let n = 0;
    let i = 0;
    while (n < take) if (this.buffer[i++]!.kind === 'record') n++;
    const items = this.buffer.splice(0, i);
    this.bufferedRecords -= take;
    const seq = ++this.seq;
    const ends = this.ends(items);
    for (const [partition, next] of ends) this.ledger(partition).push({ seq, next, acked: false });
    const state: OutstandingBatch = { seq, epoch: this.epoch, partitions: [...ends.keys()], size: take };
    this.outstanding.set(seq, state);
    const records = items.flatMap((it) => (it.kind === 'record' ? [it.record] : []));
    this.stats.batches++;
    this.stats.records += records.length;
    return { seq, records, ack: () => this.ack(state) };
  }

  /** Nothing to yield but skipped records: commit past them (in order with any un-acked batch). */
  private settleSkipped(): void {
    if (this.buffer.length === 0) return;
    const items = this.buffer.splice(0, this.buffer.length);
    const ends = this.ends(items);
    // seq 0: no batch to ack, so no ack may ever find this entry.
    for (const [partition, next] of ends) this.ledger(partition).push({ seq: 0, next, acked: true });
    if (this.advance([...ends.keys()])) {
      this.commit().catch((err) => this.log.warn({ error: errorMessage(err) }, 'committing past skipped records failed; they may be skipped again later'));
    }
  }

  /** Per partition, one past the highest offset among the items (items are in offset order). */
  private ends(items: Array<Item<T>>): Map<number, bigint> {
    const ends = new Map<number, bigint>();
    for (const it of items) ends.set(it.partition, BigInt(it.offset) + 1n);
    return ends;
  }

  private ledger(partition: number): LedgerEntry[] {
    let l = this.ledgers.get(partition);
    if (!l) this.ledgers.set(partition, (l = []));
    return l;
  }

  private ack(state: OutstandingBatch): Promise<void> {
    if (!state.ackPromise) state.ackPromise = this.doAck(state);
    return state.ackPromise;
  }

  private async doAck(b: OutstandingBatch): Promise<void> {
    if (this.closing) {
      throw new Error(`cannot ack batch ${b.seq} of '${this.settings.topic}': the consumer is closed, so it stays uncommitted and will be redelivered`);
    }
    this.outstanding.delete(b.seq);
    this.stats.acked++;
    this.release(b.size);
    if (b.epoch !== this.epoch) {
      this.stats.staleAcks++;
      this.log.warn({ batch: b.seq }, 'ack after a rebalance: nothing committed, the records are redelivered from the last commit');
      return;
    }
    for (const p of b.partitions) {
      const entry = this.ledgers.get(p)?.find((e) => e.seq === b.seq);
      if (entry) entry.acked = true;
    }
    if (this.advance(b.partitions)) await this.commit();
  }

  /** Moves each partition's commit target over its leading acked entries; true if any moved. */
  private advance(partitions: number[]): boolean {
    let moved = false;
    for (const p of partitions) {
      const l = this.ledgers.get(p);
      while (l && l.length && l[0]!.acked) {
        this.commitTarget.set(p, l.shift()!.next);
        moved = true;
      }
    }
    return moved;
  }

  /** Commits run one at a time, so an older, lower offset never lands after a newer one. */
  private commit(): Promise<void> {
    const run = this.commitChain.then(() => this.commitNow());
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  private async commitNow(): Promise<void> {
    if (!this.consumer) return;
    const epoch = this.epoch;
    const offsets = [...this.commitTarget]
      .filter(([p, target]) => target > (this.committed.get(p) ?? -1n))
      .map(([partition, target]) => ({ topic: this.settings.topic, partition, offset: target.toString() }));
    if (!offsets.length) return;
    try {
      await this.consumer.commitOffsets(offsets);
    } catch (err) {
      if (isGenerationError(err)) {
        this.log.warn({ offsets, error: errorMessage(err) }, 'commit refused by a rebalance; the records are redelivered');
        return;
      }
      const where = offsets.map((o) => `${o.partition}@${o.offset}`).join(', ');
      throw new Error(`committing offsets of '${this.settings.topic}' for group '${this.settings.groupId}' (${where}) failed: ${errorMessage(err)}`, { cause: err });
    }
    this.stats.commits++;
    if (epoch !== this.epoch) return;
    for (const o of offsets) {
      const v = BigInt(o.offset);
      if (v > (this.committed.get(o.partition) ?? -1n)) this.committed.set(o.partition, v);
    }
  }

  // ------------------------------------------------------------------ wake-ups

  private changed(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Sleeps `ms`, or less if the consumer closes meanwhile. */
  private async sleep(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!this.closing && Date.now() < end) await this.waitChange(end - Date.now());
  }

  /** Resolves on the next state change or after `ms`, whichever is first. */
  private waitChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }
}
