// A topic read from its beginning by every instance and kept tailed, for state that lives
// in a topic (the verdict cache, the label log): each instance uses a fresh group that
// never commits, so it sees everything, and can wait until it has read up to an offset
// (the end offsets at start, or its own write).
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Consumer, ITopicConfig, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { retryRetriable } from './kafka-admin';

export class TopicTail {
  /** Highest offset read per partition. */
  private readonly readTo = new Map<number, bigint>();
  private waiters: Array<{ partition: number; offset: bigint; resolve: () => void }> = [];
  private consumer?: Consumer;
  /** An idempotent producer for the instance's own writes. */
  producer?: Producer;

  private constructor(
    readonly topic: string,
    /** Partition count as found (or created). */
    readonly partitions: number,
    /** End offsets when the tail was opened. */
    private readonly ends: Map<number, bigint>,
  ) {}

  /**
   * Creates the topic as `create` says when it is missing, then starts reading it from the
   * beginning; `onMessage` sees every record in partition order.
   */
  static async open(kafka: Kafka, create: ITopicConfig, onMessage: (partition: number, message: KafkaMessage) => void): Promise<TopicTail> {
    const topic = create.topic;
    const admin = kafka.admin();
    await admin.connect();
    let tail: TopicTail;
    try {
      if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ waitForLeaders: true, topics: [create] });
      const offsets = await retryRetriable(`fetching the offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
      tail = new TopicTail(topic, offsets.length, new Map(offsets.map((o) => [o.partition, BigInt(o.high)])));
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({ groupId: `${topic}.reader.${randomUUID()}`, allowAutoTopicCreation: false });
    tail.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        onMessage(partition, message);
        const at = BigInt(message.offset);
        tail.readTo.set(partition, at);
        tail.waiters = tail.waiters.filter((w) => (w.partition === partition && w.offset <= at ? (w.resolve(), false) : true));
      },
    });
    tail.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await tail.producer.connect();
    return tail;
  }

  /** Resolves once `offset` of `partition` has been read; fails after `timeoutMs`, naming `what`. */
  waitFor(partition: number, offset: bigint, timeoutMs: number, what: string): Promise<void> {
    if (offset <= (this.readTo.get(partition) ?? -1n)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: topic ${this.topic} not read up to offset ${offset} of partition ${partition} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ partition, offset, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /** Resolves once everything that was in the topic when it was opened has been read. */
  async caughtUp(timeoutMs: number, what: string): Promise<void> {
    await Promise.all([...this.ends].filter(([, high]) => high > 0n).map(([p, high]) => this.waitFor(p, high - 1n, timeoutMs, what)));
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.consumer?.disconnect(), this.producer?.disconnect()]);
  }
}
