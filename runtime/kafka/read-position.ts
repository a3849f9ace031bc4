// "Caught up" on a topic written in transactions. Every committed transaction ends with a
// commit marker, a control record that takes an offset but never reaches eachMessage or
// eachBatch, so a partition's high watermark is often one past a marker: comparing it with
// "last record offset + 1" never matches (data at 0, 2, 4, 6; high watermark 8). The
// position that does match is the consumer's fetch position, which moves past markers:
// kafkajs reports it as `lastOffset` of each batch (control records included), and emits
// END_BATCH_PROCESS even for a batch that held only markers or aborted records.
import type { Admin, Batch, Consumer } from 'kafkajs';
import { retryTransient } from './kafka-admin';

export class ReadPosition {
  /** Per partition, the next offset to read (everything below it was read or was a marker). */
  private readonly next = new Map<number, bigint>();
  private readonly listeners = new Set<() => void>();

  constructor(readonly topic: string) {}

  /** Follows `consumer`'s batches that carry no records (markers, aborted records only). */
  follow(consumer: Consumer): () => void {
    return consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const { topic, partition, batchSize, lastOffset } = e.payload as { topic: string; partition: number; batchSize: number; lastOffset: string };
      if (topic === this.topic && batchSize === 0) this.advance(partition, BigInt(lastOffset) + 1n);
    });
  }

  /** A batch handled whole: the position passes its last record and any marker fetched with it. */
  batchDone(batch: Pick<Batch, 'partition' | 'lastOffset'>): void {
    this.advance(batch.partition, BigInt(batch.lastOffset()) + 1n);
  }

  /** Records up to `next - 1` handled (when only part of a batch was). */
  advance(partition: number, next: bigint): void {
    if (next <= (this.next.get(partition) ?? -1n)) return;
    this.next.set(partition, next);
    for (const l of [...this.listeners]) l();
  }

  /** The next offset to read of `partition`, or 0 before anything was read. */
  of(partition: number): bigint {
    return this.next.get(partition) ?? 0n;
  }

  /** True once every partition is read up to its end (end 0: an empty partition). */
  reached(ends: ReadonlyMap<number, bigint>): boolean {
    for (const [p, end] of ends) if (this.of(p) < end) return false;
    return true;
  }

  /** Resolves when `reached(ends)`; rejects after `timeoutMs` naming `what` and the partitions behind. */
  until(ends: ReadonlyMap<number, bigint>, timeoutMs: number, what: string): Promise<void> {
    if (this.reached(ends)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!this.reached(ends)) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        const behind = [...ends].filter(([p, end]) => this.of(p) < end).map(([p, end]) => `${p}: at ${this.of(p)} of ${end}`);
        reject(new Error(`${what}: topic ${this.topic} not read to its end within ${timeoutMs} ms (partition ${behind.join(', ')})`));
      }, timeoutMs);
      this.listeners.add(check);
    });
  }
}

/**
 * The end offsets (high watermarks) of every partition of `topic` now. Reaching them with a
 * read_committed consumer means every transaction open at this moment has completed too
 * (committed or aborted, by its producer or by the transaction timeout).
 */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  const offsets = await retryTransient(`fetching the end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
  return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
}
