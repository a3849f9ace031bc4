import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { distinctUntilChanged, Subscription } from 'rxjs';
import type { Logger } from '../../core/logger';
import { RUNTIME_KEY_PREFIX } from '../node-worker';
import type { ChangelogEntry, ChunkResult, NodeWorker, OutMessage } from '../node-worker';
import type { KafkaRuntimeConfig } from './kafka-config';
import { TopicTail } from './topic-tail';
import { retryRetriable } from './kafka-admin';
import { restartUnlessStopping } from './kafka-client';
import { whileBeating } from './batch-heartbeat';
import { PartitionStarts } from './partition-starts';
import { groupByTopic, StaleStart, toRaw } from './chunk-messages';
import { topicByName } from '../../topology/topology';
import { TxnProducers } from './txn-producers';
import { watchWorker } from '../metrics/group-watch';
import { ReplayBounds, replayGroupId } from './replay-bounds';

export interface RunnerStats {
  processed: number;
  emitted: number;
  deadLettered: number;
  transactions: number;
  aborted: number;
}

/**
 * Runs one node as a consumer group on Kafka.
 *
 * Exactly-once: kafkajs 2.2.4 sends TxnOffsetCommit without KIP-447's group generation,
 * so the broker cannot fence a zombie by group membership. We fence by transactional id
 * instead: one transactional producer per input partition (`<group>.<topic>.<partition>`).
 * Whoever owns a partition next initialises the same id, which aborts or fences anything
 * the previous owner still had open. Each chunk of at most `maxInFlight` records is one
 * transaction holding its outputs, its dead letters and the next input offset.
 *
 * Where a partition starts (the rule that keeps exactly-once through rebalances): kafkajs
 * re-fetches committed offsets after every re-join without KIP-447's `require_stable`, so
 * right after a transaction commits the fetch can still return the previous offset (the
 * commit markers are written asynchronously after EndTxn returns), and the chunk would be
 * processed and committed a second time. So before the first chunk of a partition after
 * every (re)assignment, and after any failed commit, the runner
 *   1. re-initialises the partition's transactional producer: InitProducerId does not
 *      return while a transaction of that id is still completing, so every transaction of
 *      a previous owner, or of this process, is committed or aborted, markers written;
 *   2. fetches the group's committed offset until two reads agree (committed offsets only
 *      move forward, so the highest read is the answer);
 *   3. takes the higher of that and the floor: the next offset this process itself last
 *      committed for the partition, which no fetch can undo;
 * and a batch that starts below the floor is not processed: the consumer seeks to it.
 *
 * At-least-once: an idempotent producer writes the chunk, then the offsets are committed;
 * output ids are deterministic, so a redelivered chunk produces identical records. The same
 * floor keeps a stale offset fetch from redelivering what this process already committed.
 *
 * Keyed state (processors that declare `state`): every instance tails the node's changelog
 * topic. Before the first chunk of a newly assigned partition, the runner writes a barrier
 * record to the changelog partition with that partition's transactional producer (which
 * has fenced the previous owner and aborted its open transaction), waits until the tail
 * has read the barrier, and loads the partition from the tail: everything committed before
 * the barrier is in. Each chunk's state changes go in the chunk's transaction. Punctuations
 * (e.g. group timeouts) run on a timer per owned partition, each in its own transaction.
 */
export class KafkaNodeRunner {
  readonly groupId: string;
  readonly stats: RunnerStats = { processed: 0, emitted: 0, deadLettered: 0, transactions: 0, aborted: 0 };
  private consumer?: Consumer;
  private sharedProducer?: Producer;
  private readonly producers: TxnProducers;
  private flowSub?: Subscription;
  private readonly log: Logger;
  /** Partitions of the input topic this member owns, as of the last rebalance. */
  private assigned = new Set<number>();
  /** One chain per partition: a chunk and a punctuation of one partition never overlap. */
  private readonly locks = new Map<number, Promise<unknown>>();
  /** The changelog as read so far, latest entry per key, by partition (stateful nodes). */
  private readonly changelogView = new Map<number, Map<string, ChangelogEntry>>();
  private changelogTail?: TopicTail;
  private punctuation?: NodeJS.Timeout;
  private admin?: Admin;
  /** Where each input partition may start (the rule in the class comment). */
  private readonly starts: PartitionStarts;
  private punctuating = false;
  private stopping = false;

  constructor(
    private readonly kafka: Kafka,
    readonly worker: NodeWorker,
    private readonly cfg: KafkaRuntimeConfig,
    logger: Logger,
    /** A replay: its own group, only the records of its range, and `finished` once they are done. */
    readonly replay?: ReplayBounds,
  ) {
    this.groupId = replay ? replayGroupId(cfg.groupPrefix, worker.node.name, replay.tag) : `${cfg.groupPrefix}.${worker.node.name}`;
    this.log = logger.child({ node: worker.node.name, group: this.groupId });
    this.producers = new TxnProducers(kafka, `${this.groupId}.${this.topic}`, cfg.transactionTimeoutMs);
    this.starts = new PartitionStarts({
      log: this.log,
      // InitProducerId returns only once pending transactions of this id are complete.
      settleTransactions: async (p) => {
        if (this.cfg.delivery !== 'exactly-once') return;
        await this.producers.drop(p);
        await this.producers.for(p);
      },
      readCommitted: async (p) => {
        const topics = await retryRetriable(`fetching the committed offsets of group ${this.groupId}`, () =>
          this.admin!.fetchOffsets({ groupId: this.groupId, topics: [this.topic] }),
        );
        const o = topics.find((t) => t.topic === this.topic)?.partitions.find((x) => x.partition === p)?.offset;
        return o === undefined || o === '-1' ? undefined : BigInt(o);
      },
    });
  }

  /** Times a chunk started below what was committed (a stale committed-offset fetch caught). */
  get staleStartsCaught(): number {
    return this.starts.staleStartsCaught;
  }

  get topic(): string {
    return this.worker.node.input;
  }

  /** The underlying kafkajs consumer, for instrumentation (its events) and tests. */
  get kafkaConsumer(): Consumer | undefined {
    return this.consumer;
  }

  async start(): Promise<void> {
    await this.worker.prepare();
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: this.cfg.sessionTimeoutMs,
      heartbeatInterval: this.cfg.heartbeatIntervalMs,
      readUncommitted: false, // read_committed: never see outputs of aborted transactions
      allowAutoTopicCreation: false,
      retry: restartUnlessStopping(() => this.stopping), // never a member again after stop()
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned = new Set((e.payload.memberAssignment[this.topic] ?? []) as number[]);
      this.assigned = assigned;
      // kafkajs re-fetched every partition's committed offset for this generation, maybe stale.
      this.starts.rejoined();
      this.log.info({ partitions: [...assigned] }, 'partitions assigned');
      // State of a partition that moved away goes stale: reload it if it ever comes back.
      for (const p of this.worker.state.restoredPartitions()) if (!assigned.has(p)) this.worker.state.forget(p);
      // A partition that moved away has (or will have) a producer with our transactional
      // id elsewhere; ours is fenced. Drop it so a later re-assignment starts fresh.
      for (const p of this.producers.partitions()) if (!assigned.has(p)) void this.producers.drop(p);
    });
    watchWorker(this.worker, consumer, this.groupId, this.cfg.fromBeginning); // metrics: rebalances, readiness, lag
    this.replay?.follow(consumer);
    consumer.on(consumer.events.CRASH, (e) => this.log.error({ error: String(e.payload.error), restart: e.payload.restart }, 'consumer crashed'));
    await this.openChangelog();
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await consumer.connect();
    if (this.cfg.delivery === 'at-least-once') {
      this.sharedProducer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await this.sharedProducer.connect();
    }
    await consumer.subscribe({ topics: [this.topic], fromBeginning: this.cfg.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.cfg.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.onBatch(payload),
    });
    // A processor may ask to stop taking records (e.g. its provider is down): pause, do not
    // drop. kafkajs refuses pause/resume until its group exists, which can be a moment after
    // run() returns, so the wanted state is applied with retries; the first "not paused"
    // needs no call at all.
    let applied = false;
    this.flowSub = this.worker.flow.paused$.pipe(distinctUntilChanged()).subscribe((paused) => {
      if (paused === applied) return;
      applied = paused;
      this.applyPause(consumer, () => applied);
    });
    const every = this.worker.punctuateEveryMs;
    if (every !== undefined) this.punctuation = setInterval(() => void this.punctuateAll(), every);
  }

  /** Pauses or resumes the input as `wanted()` says now, retrying while kafkajs's group is not ready. */
  private applyPause(consumer: Consumer, wanted: () => boolean, attempt = 0): void {
    try {
      if (wanted()) consumer.pause([{ topic: this.topic }]);
      else consumer.resume([{ topic: this.topic }]);
    } catch (err) {
      if (this.stopping) return;
      if (attempt >= 100) return this.log.error({ error: String(err) }, 'could not pause or resume the input');
      setTimeout(() => this.applyPause(consumer, wanted, attempt + 1), 100).unref();
    }
  }

  /** Starts tailing the node's changelog (stateful nodes only). */
  private async openChangelog(): Promise<void> {
    const topic = this.worker.changelog;
    if (!topic) return;
    this.changelogTail = await TopicTail.open(
      this.kafka,
      { topic, numPartitions: topicByName(this.worker.topology, topic).partitions, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      (partition, m) => {
        const key = m.key?.toString('utf8');
        if (key === undefined) return;
        let view = this.changelogView.get(partition);
        if (!view) this.changelogView.set(partition, (view = new Map()));
        // Compaction keeps the last value per key; so does the view (a tombstone removes it).
        if (m.value === null) view.delete(key);
        else view.set(key, { key: m.key, value: m.value });
      },
    );
  }

  /** Loads a partition's state: barrier through the fenced producer, wait for it, then copy. */
  private async restore(partition: number): Promise<void> {
    const topic = this.worker.changelog!;
    const barrier = { topic, acks: -1, messages: [{ partition, key: `${RUNTIME_KEY_PREFIX}restore.${randomUUID()}`, value: null }] };
    let offset: string;
    if (this.cfg.delivery === 'exactly-once') {
      const producer = await this.producers.for(partition);
      const txn = await producer.transaction();
      try {
        [{ baseOffset: offset }] = (await txn.send(barrier)) as Array<{ baseOffset: string }>;
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => undefined);
        await this.producers.drop(partition);
        throw err;
      }
    } else {
      [{ baseOffset: offset }] = (await this.sharedProducer!.send(barrier)) as Array<{ baseOffset: string }>;
    }
    const started = Date.now();
    await this.changelogTail!.waitFor(partition, BigInt(offset), this.cfg.sessionTimeoutMs * 4, `restoring state of ${this.topic}[${partition}]`);
    const loaded = await this.worker.restore(partition, this.changelogView.get(partition)?.values() ?? []);
    this.log.info({ partition, entries: loaded, ms: Date.now() - started }, 'state restored from changelog');
  }

  private exclusive<T>(partition: number, fn: () => Promise<T>): Promise<T> {
    const run = (this.locks.get(partition) ?? Promise.resolve()).then(fn, fn);
    this.locks.set(
      partition,
      run.catch(() => undefined),
    );
    return run;
  }

  /** Timed work per owned partition (e.g. groups that waited too long), each committed alone. */
  private async punctuateAll(): Promise<void> {
    if (this.punctuating || this.stopping) return;
    this.punctuating = true;
    try {
      for (const partition of [...this.assigned]) {
        if (this.stopping) return;
        await this.exclusive(partition, async () => {
          if (this.worker.changelog && !this.worker.state.isRestored(partition)) await this.restore(partition);
          const result = await this.worker.punctuate(partition);
          if (result.messages.length === 0) return;
          try {
            await this.commit(partition, result, undefined);
          } catch (err) {
            this.worker.state.forget(partition);
            throw err;
          }
          this.stats.emitted += result.emitted;
        }).catch((err) => this.log.warn({ partition, error: String(err) }, 'punctuation failed; it runs again on the next tick'));
      }
    } finally {
      this.punctuating = false;
    }
  }

  /** The whole batch beats: waiting for a partition's lock, its start check or its state too. */
  private onBatch(payload: EachBatchPayload): Promise<void> {
    return whileBeating(payload.heartbeat, this.cfg.heartbeatIntervalMs, () => this.processBatch(payload));
  }

  private async processBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { partition } = batch;
    // A replay processes only its range; past a partition's end it is done there.
    const { inside: messages, pastEnd } = this.replay ? this.replay.clip(partition, batch.messages) : { inside: batch.messages, pastEnd: false };
    if (!messages.length) return pastEnd ? this.replay!.endReached(partition, this.consumer) : undefined;
    // Unresolved records are fetched again, so returning here loses nothing.
    if (!(await this.exclusive(partition, () => this.starts.verify(partition))) || !isRunning()) return;
    if (this.starts.isBelowFloor(partition, messages[0]!.offset)) {
      // A stale committed-offset fetch put the consumer behind what is committed: skip ahead.
      const floor = this.starts.floorOf(partition)!.toString();
      this.log.warn({ partition, batchStart: messages[0]!.offset, committed: floor }, 'batch starts below the committed offset; seeking to it');
      this.consumer!.seek({ topic: this.topic, partition, offset: floor });
      return;
    }
    for (let i = 0; i < messages.length; i += this.cfg.maxInFlight) {
      if (!isRunning() || isStale()) return;
      const chunk = messages.slice(i, i + this.cfg.maxInFlight);
      const last = chunk[chunk.length - 1]!;
      const next = (BigInt(last.offset) + 1n).toString();
      let result: ChunkResult;
      try {
        result = await this.exclusive(partition, async () => {
          if (!(await this.starts.verify(partition))) throw new StaleStart(partition, chunk[0]!.offset, undefined);
          if (this.starts.isBelowFloor(partition, chunk[0]!.offset)) throw new StaleStart(partition, chunk[0]!.offset, this.starts.floorOf(partition));
          if (this.worker.changelog && !this.worker.state.isRestored(partition)) await this.restore(partition);
          const r = await this.worker.process(chunk.map((m) => toRaw(batch.topic, partition, m)));
          try {
            await this.commit(partition, r, next);
          } catch (err) {
            this.worker.state.forget(partition); // its changes were not committed
            this.starts.invalidate(partition); // the outcome is unknown: verify the start again
            throw err;
          }
          this.starts.committed(partition, BigInt(next));
          return r;
        });
      } catch (err) {
        if (!(err instanceof StaleStart)) throw err;
        if (err.floor === undefined) return; // a rebalance came in between: the records are fetched again
        this.log.warn({ partition, chunkStart: err.offset, committed: err.floor.toString() }, 'chunk starts below the committed offset; seeking to it');
        this.consumer!.seek({ topic: this.topic, partition, offset: err.floor.toString() });
        return;
      }
      resolveOffset(last.offset);
      this.stats.processed += result.processed;
      this.stats.emitted += result.emitted;
      this.stats.deadLettered += result.deadLettered;
      this.replay?.advance(partition, BigInt(next)); // after the stats: a finished replay reports them whole
      await heartbeat();
    }
    if (pastEnd) return this.replay!.endReached(partition, this.consumer);
    // The whole batch is committed: markers fetched after its last record are done too (lag).
    this.worker.metrics?.group?.processed(partition, BigInt(batch.lastOffset()) + 1n);
    this.replay?.batchDone(batch);
  }

  private async commit(partition: number, result: ChunkResult, nextOffset: string | undefined): Promise<void> {
    const started = performance.now();
    await (this.cfg.delivery === 'exactly-once'
      ? this.commitInTransaction(partition, result.messages, nextOffset)
      : this.commitAtLeastOnce(partition, result.messages, nextOffset));
    this.worker.metrics?.committed(partition, result, { seconds: (performance.now() - started) / 1000, next: nextOffset });
  }

  /** Outputs, dead letters, state changes and (unless a punctuation) the next offset, atomically. */
  private async commitInTransaction(partition: number, out: OutMessage[], nextOffset: string | undefined): Promise<void> {
    const producer = await this.producers.for(partition);
    const txn = await producer.transaction();
    try {
      if (out.length) await txn.sendBatch({ topicMessages: groupByTopic(out), acks: -1 });
      if (nextOffset !== undefined) {
        await txn.sendOffsets({
          consumerGroupId: this.groupId,
          topics: [{ topic: this.topic, partitions: [{ partition, offset: nextOffset }] }],
        });
      }
      await txn.commit();
      this.stats.transactions++;
    } catch (err) {
      this.stats.aborted++;
      this.worker.metrics?.aborted();
      this.log.warn({ partition, error: String(err) }, 'transaction failed; aborting and recreating the producer');
      await txn.abort().catch(() => undefined);
      // A failed or fenced producer can stay stuck in kafkajs: always start over with a new one.
      await this.producers.drop(partition);
      throw err; // the batch is retried from the last committed offset
    }
  }

  private async commitAtLeastOnce(partition: number, out: OutMessage[], nextOffset: string | undefined): Promise<void> {
    if (out.length) await this.sharedProducer!.sendBatch({ topicMessages: groupByTopic(out), acks: -1 });
    if (nextOffset !== undefined) await this.consumer!.commitOffsets([{ topic: this.topic, partition, offset: nextOffset }]);
  }

  /** Stops fetching, lets the batch in work finish and commit, closes the processor, then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.punctuation) clearInterval(this.punctuation);
    this.flowSub?.unsubscribe();
    await this.consumer?.disconnect().catch((e) => this.log.warn({ error: String(e) }, 'consumer disconnect failed'));
    await Promise.all(this.locks.values()); // a punctuation in flight finishes its transaction
    await this.worker.close(); // nothing is in work any more: the processor releases what it holds
    await Promise.all(this.producers.partitions().map((p) => this.producers.drop(p)));
    await this.admin?.disconnect().catch(() => undefined);
    await this.sharedProducer?.disconnect().catch(() => undefined);
    await this.changelogTail?.close();
    this.worker.metrics?.group?.close();
  }
}
