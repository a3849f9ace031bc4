// The range a replay covers on its input topic: per partition, from where it was positioned
// up to the end offsets as they were when it started (or the offsets for `--to`). Records
// at or past a partition's end are never processed; the replay is finished once the
// consumer's position reaches every end (transaction markers included, see ReadPosition).
import type { Batch, Consumer, KafkaMessage } from 'kafkajs';
import { ReadPosition } from './read-position';

export interface ReplayRange {
  /** First offset to reprocess, per partition. */
  starts: Map<number, bigint>;
  /** One past the last offset to reprocess, per partition (start = end: nothing to do there). */
  ends: Map<number, bigint>;
}

export class ReplayBounds {
  readonly position: ReadPosition;

  constructor(
    readonly tag: string,
    readonly topic: string,
    readonly range: ReplayRange,
  ) {
    this.position = new ReadPosition(topic);
    for (const [p, s] of range.starts) this.position.advance(p, s);
  }

  /** The messages of a batch inside the range, and whether the batch went past its end. */
  clip(partition: number, messages: KafkaMessage[]): { inside: KafkaMessage[]; pastEnd: boolean } {
    const end = this.range.ends.get(partition) ?? 0n;
    const inside = messages.filter((m) => BigInt(m.offset) < end);
    return { inside, pastEnd: inside.length < messages.length };
  }

  /** Everything of `partition` below `next` is processed (or was a marker). */
  advance(partition: number, next: bigint): void {
    this.position.advance(partition, next);
  }

  /** A batch handled whole, markers fetched with it included. */
  batchDone(batch: Pick<Batch, 'partition' | 'lastOffset'>): void {
    this.position.batchDone(batch);
  }

  /** The consumer fetched a record at or past the end of `partition`: nothing of the range is left there; stop fetching it. */
  endReached(partition: number, consumer?: Consumer): void {
    this.position.advance(partition, this.range.ends.get(partition) ?? 0n);
    try {
      consumer?.pause([{ topic: this.topic, partitions: [partition] }]);
    } catch {
      // The group is rebalancing: records past the end are clipped again when fetched.
    }
  }

  /** Follows the consumer's batches that carry markers only, which move the position too. */
  follow(consumer: Consumer): () => void {
    return this.position.follow(consumer);
  }

  get finished(): boolean {
    return this.position.reached(this.range.ends);
  }

  /** Resolves once every partition is processed to its end. */
  untilFinished(): Promise<void> {
    // ~24 days: the longest a Node timer can wait; a replay that long is stopped by hand.
    return this.position.until(this.range.ends, 2_147_483_647, `replay ${this.tag}`);
  }

  /** Per partition: where it started, where it is, where it ends. */
  progress(): Array<{ partition: number; start: bigint; at: bigint; end: bigint }> {
    return [...this.range.ends].map(([partition, end]) => {
      const start = this.range.starts.get(partition) ?? end;
      const at = this.position.of(partition);
      return { partition, start, at: at < start ? start : at > end ? end : at, end };
    });
  }
}

/** The consumer group of a replay: never the live group, one per tag. */
export function replayGroupId(groupPrefix: string, node: string, tag: string): string {
  return `${groupPrefix}.${node}.replay.${tag}`;
}
