// A topic read from its beginning by every instance and kept tailed, for state that lives
// in a topic (the verdict cache, the label log, changelogs): each instance uses a fresh
// group that never commits, so it sees everything, and can wait until it has read up to
// an offset (the end offsets at start, or its own write). Positions count transaction
// markers (see read-position.ts), so a topic written in transactions is caught up too.
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Consumer, ITopicConfig, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { createTopics } from './kafka-admin';
import { restartUnlessStopping } from './kafka-client';
import { endOffsets, ReadPosition } from './read-position';

export class TopicTail {
  private readonly position: ReadPosition;
  private consumer?: Consumer;
  private closing = false;
  /** An idempotent producer for the instance's own writes. */
  producer?: Producer;

  private constructor(
    readonly topic: string,
    /** Partition count as found (or created). */
    readonly partitions: number,
    /** End offsets when the tail was opened. */
    private readonly ends: Map<number, bigint>,
  ) {
    this.position = new ReadPosition(topic);
  }

  /**
   * Creates the topic as `create` says when it is missing, then starts reading it from the
   * beginning; `onMessage` sees every record in partition order.
   */
  static async open(kafka: Kafka, create: ITopicConfig, onMessage: (partition: number, message: KafkaMessage) => void): Promise<TopicTail> {
    const topic = create.topic;
    await createTopics(kafka, [create]);
    const admin = kafka.admin();
    await admin.connect();
    let tail: TopicTail;
    try {
      const ends = await endOffsets(admin, topic);
      tail = new TopicTail(topic, ends.size, ends);
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({
      groupId: `${topic}.reader.${randomUUID()}`,
      allowAutoTopicCreation: false,
      retry: restartUnlessStopping(() => tail.closing),
    });
    tail.consumer = consumer;
    tail.position.follow(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) onMessage(batch.partition, message);
        tail.position.batchDone(batch);
      },
    });
    tail.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await tail.producer.connect();
    return tail;
  }

  /** Resolves once `offset` of `partition` has been read; fails after `timeoutMs`, naming `what`. */
  waitFor(partition: number, offset: bigint, timeoutMs: number, what: string): Promise<void> {
    return this.position.until(new Map([[partition, offset + 1n]]), timeoutMs, what);
  }

  /** Resolves once everything that was in the topic when it was opened has been read. */
  async caughtUp(timeoutMs: number, what: string): Promise<void> {
    await this.position.until(this.ends, timeoutMs, what);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([this.consumer?.disconnect(), this.producer?.disconnect()]);
  }
}
