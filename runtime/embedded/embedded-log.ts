import { Partitioners } from 'kafkajs';

export interface LogEntry {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
}

// Kafka's default (murmur2) partitioner, so a key lands in the same partition number on
// the embedded log as on a real cluster with the same partition count.
const partitioner = Partitioners.DefaultPartitioner();

/**
 * An in-process, append-only, partitioned log with consumer-group offsets. Appends and
 * offset commits of one node step happen in one synchronous call, which is what a Kafka
 * transaction gives the Kafka runtime.
 */
export class EmbeddedLog {
  private readonly topics = new Map<string, LogEntry[][]>();
  private readonly offsets = new Map<string, number>();

  createTopic(name: string, partitions: number): void {
    if (!this.topics.has(name))
      this.topics.set(
        name,
        Array.from({ length: partitions }, () => []),
      );
  }

  partitions(topic: string): number {
    return this.log(topic).length;
  }

  partitionFor(topic: string, key: string | null): number {
    return key === null ? 0 : kafkaPartition(topic, key, this.partitions(topic));
  }

  append(topic: string, key: string | null, value: Buffer | null, timestamp = Date.now(), partition?: number): { partition: number; offset: number } {
    const p = partition ?? this.partitionFor(topic, key);
    const entries = this.log(topic)[p];
    if (!entries) throw new Error(`topic '${topic}' has no partition ${p}`);
    entries.push({ key: key === null ? null : Buffer.from(key), value, timestamp });
    return { partition: p, offset: entries.length - 1 };
  }

  read(topic: string, partition: number, from: number, max: number): Array<LogEntry & { offset: number }> {
    const entries = this.log(topic)[partition] ?? [];
    return entries.slice(from, from + max).map((e, i) => ({ ...e, offset: from + i }));
  }

  endOffset(topic: string, partition: number): number {
    return this.log(topic)[partition]?.length ?? 0;
  }

  committed(group: string, topic: string, partition: number): number {
    return this.offsets.get(`${group}\u0000${topic}\u0000${partition}`) ?? 0;
  }

  commit(group: string, topic: string, partition: number, nextOffset: number): void {
    this.offsets.set(`${group}\u0000${topic}\u0000${partition}`, nextOffset);
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  private log(topic: string): LogEntry[][] {
    const t = this.topics.get(topic);
    if (!t) throw new Error(`embedded log has no topic '${topic}'`);
    return t;
  }
}

/** The partition Kafka's default (murmur2) partitioner gives `key` in a topic of `n` partitions. */
export function kafkaPartition(topic: string, key: string, n: number): number {
  return partitioner({
    topic,
    partitionMetadata: Array.from({ length: n }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
      partitionErrorCode: 0,
    })),
    message: { key, value: null },
  });
}
