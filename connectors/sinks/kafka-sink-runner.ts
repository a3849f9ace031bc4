// A file sink on Kafka, the way Kafka Connect's file/object-store sinks work: the consumer
// group spreads partitions over sink processes; when a process gets a partition it derives
// the resume offset from the finished shard files (not from the group's committed offset)
// and seeks there; offsets are committed after shards are published, only as a hint for
// lag monitoring. Records that do not decode or format go to the dead-letter topic.
import { Partitioners } from 'kafkajs';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { errorMessage, isRetriable } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { deadLetterKey, deadLetterRecord } from '../../runtime/dead-letter';
import type { SerdeSet } from '../../runtime/serde/topic-serde';
import { addCounts, PartitionSink, SinkCounts, SinkFormat, SinkRecord } from './partition-sink';
import type { ShardStorage } from './shard-storage';
import type { ShardRotation } from './shard-writer';
import { endOffsets, ReadPosition } from '../../runtime/kafka/read-position';
import { GroupWatch } from '../../runtime/metrics/group-watch';
import { restartUnlessStopping } from '../../runtime/kafka/kafka-client';
import { whileBeating } from '../../runtime/kafka/batch-heartbeat';
import type { NodeMetrics, StreamMetrics } from '../../runtime/metrics/stream-metrics';

export interface KafkaSinkOptions<T> {
  kafka: Kafka;
  serdes: SerdeSet;
  topic: string;
  deadLetterTopic: string;
  groupId: string;
  storage: ShardStorage;
  shardDir: string;
  format: SinkFormat<T>;
  rotation?: ShardRotation;
  logger: Logger;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Records, dead letters, shards, readiness and lag as node `sink.<format>`; none by default. */
  metrics?: StreamMetrics;
}

export interface SinkStats extends SinkCounts {
  partitions: number[];
  shardsClosed: number;
}

export class KafkaSinkRunner<T> {
  private consumer?: Consumer;
  private producer?: Producer;
  private readonly sinks = new Map<number, Promise<PartitionSink<T>>>();
  private shardsClosed = 0;
  private stopping = false;
  private readonly log: Logger;
  /** How far each partition has been written, transaction markers included (for untilEnd). */
  private readonly position: ReadPosition;
  private readonly metrics?: NodeMetrics;

  constructor(private readonly o: KafkaSinkOptions<T>) {
    this.log = o.logger.child({ sink: o.format.name, topic: o.topic, group: o.groupId });
    this.position = new ReadPosition(o.topic);
    this.metrics = o.metrics?.node(`sink.${o.format.name}`);
  }

  /** Totals over the partitions this process holds now. */
  async totals(): Promise<SinkStats> {
    const s: SinkStats = {
      partitions: [...this.sinks.keys()].sort((a, b) => a - b),
      written: 0,
      duplicates: 0,
      skipped: 0,
      deadLettered: 0,
      shardsClosed: this.shardsClosed,
    };
    for (const p of this.sinks.values()) addCounts(s, (await p).stats);
    return s;
  }

  private sinkFor(partition: number): Promise<PartitionSink<T>> {
    let s = this.sinks.get(partition);
    if (!s) {
      s = PartitionSink.open<T>({
        storage: this.o.storage,
        dir: this.o.shardDir,
        topic: this.o.topic,
        partition,
        format: this.o.format,
        rotation: this.o.rotation,
        deadLetter: (r, err) => this.deadLetter(partition, r, err),
        logger: this.log,
      });
      s.catch(() => this.sinks.delete(partition));
      this.sinks.set(partition, s);
    }
    return s;
  }

  /**
   * Resolves once every partition of the topic is written up to the end offsets it had
   * when this was called (a one-off export: `sink odvg --stop-at-end`). Meant for a
   * single sink process that owns all partitions. The end counts transaction markers, so
   * a topic written by the exactly-once runtime ends too; a transaction still open then
   * is waited for until it commits or aborts.
   */
  async untilEnd(): Promise<void> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    let ends: Map<number, bigint>;
    try {
      ends = await endOffsets(admin, this.o.topic);
    } finally {
      await admin.disconnect();
    }
    this.log.info({ ends: Object.fromEntries([...ends].map(([p, e]) => [p, e.toString()])) }, 'writing up to the current end of the topic');
    return this.position.until(ends, 2 ** 31 - 1, 'sink --stop-at-end');
  }

  async start(): Promise<void> {
    await this.o.serdes.for(this.o.topic).id();
    this.producer = this.o.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await this.producer.connect();
    const consumer = this.o.kafka.consumer({
      groupId: this.o.groupId,
      sessionTimeout: this.o.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: this.o.heartbeatIntervalMs ?? 3_000,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      retry: restartUnlessStopping(() => this.stopping), // never a member again after stop()
    });
    this.consumer = consumer;
    this.position.follow(consumer);
    if (this.metrics) new GroupWatch(this.metrics, { topic: this.o.topic, groupId: this.o.groupId }).attach(consumer);
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned = new Set((e.payload.memberAssignment[this.o.topic] ?? []) as number[]);
      this.log.info({ partitions: [...assigned] }, 'sink partitions assigned');
      // A partition that moved away is another process's now: drop our unpublished shard
      // so two writers never publish the same offsets.
      for (const p of [...this.sinks.keys()]) {
        if (!assigned.has(p)) {
          const s = this.sinks.get(p)!;
          this.sinks.delete(p);
          void s.then((x) => x.abort()).catch(() => undefined);
        }
      }
      // Resume where the files end, whatever the group committed.
      for (const p of assigned) {
        void this.sinkFor(p)
          .then((s) => {
            if (s.resumeOffset !== null) {
              consumer.seek({ topic: this.o.topic, partition: p, offset: s.resumeOffset });
              this.position.advance(p, BigInt(s.resumeOffset));
            }
          })
          .catch((err) => this.log.error({ partition: p, error: errorMessage(err) }, 'cannot open the sink partition'));
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [this.o.topic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (b) => this.onBatch(b) });
    this.o.metrics?.pollLag(this.o.kafka, this.log);
    this.log.info('sink started');
  }

  /** The whole batch beats: recovering a partition from its files can take a while too. */
  private onBatch(payload: EachBatchPayload): Promise<void> {
    return whileBeating(payload.heartbeat, this.o.heartbeatIntervalMs ?? 3_000, () => this.handleBatch(payload));
  }

  private async handleBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale()) return;
    const sink = await this.sinkFor(batch.partition);
    const serde = this.o.serdes.for<T>(this.o.topic);
    const records: Array<SinkRecord<T>> = [];
    for (const m of batch.messages) {
      const r: SinkRecord<T> = { offset: m.offset, timestamp: Number(m.timestamp), key: m.key, raw: m.value };
      try {
        r.value = await serde.decode(m.value);
      } catch (err) {
        if (isRetriable(err)) throw err;
        r.error = err;
      }
      records.push(r);
    }
    const before = handled(sink.stats);
    const closed = await sink.handle(records);
    if (isStale()) return; // the partition moved while we wrote: its new owner takes over from the files
    this.shardsClosed += closed.length;
    this.metrics?.committed(batch.partition, { processed: handled(sink.stats) - before, emitted: 0 });
    this.metrics?.published(this.o.topic, closed);
    const last = closed.at(-1);
    if (last) await this.consumer!.commitOffsets([{ topic: this.o.topic, partition: batch.partition, offset: (BigInt(last.endOffset) + 1n).toString() }]);
    const lastMsg = batch.messages.at(-1);
    // Lag: what is published is done, and so are markers after a batch whose records all are.
    if (last) this.metrics?.group?.processed(batch.partition, BigInt(last.endOffset === lastMsg?.offset ? batch.lastOffset() : last.endOffset) + 1n);
    if (lastMsg) {
      resolveOffset(lastMsg.offset); // kafkajs resolves a marker fetched after it too
      this.position.batchDone(batch);
    }
    await heartbeat();
  }

  private async deadLetter(partition: number, r: SinkRecord<unknown>, error: unknown): Promise<void> {
    const m = { topic: this.o.topic, partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.raw };
    const dl = deadLetterRecord(`sink.${this.o.format.name}`, m, error, 1, Date.now());
    this.log.warn({ partition, offset: r.offset, errorClass: dl.errorClass, reason: dl.reason }, 'record dead-lettered by the sink');
    this.metrics?.deadLettered(dl.errorClass);
    const value = await this.o.serdes.for(this.o.deadLetterTopic).encode(dl);
    await this.producer!.send({ topic: this.o.deadLetterTopic, acks: -1, messages: [{ key: deadLetterKey(m), value }] });
  }

  /** Stops consuming, publishes every open shard and commits their offsets. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.stop();
    for (const [p, s] of this.sinks) {
      const shard = await (await s).close().catch((err) => {
        this.log.error({ partition: p, error: errorMessage(err) }, 'could not publish the open shard; it is redone on restart');
        return null;
      });
      if (shard) {
        this.shardsClosed++;
        this.metrics?.published(this.o.topic, [shard]);
        await this.consumer?.commitOffsets([{ topic: this.o.topic, partition: p, offset: (BigInt(shard.endOffset) + 1n).toString() }]).catch(() => undefined);
      }
    }
    await this.o.format.close?.();
    await Promise.allSettled([this.consumer?.disconnect(), this.producer?.disconnect()]);
    this.metrics?.group?.close();
    await this.o.metrics?.close();
  }
}

/** Records a partition sink has dealt with, whatever became of them. */
function handled(s: SinkCounts): number {
  return s.written + s.duplicates + s.skipped + s.deadLettered;
}
