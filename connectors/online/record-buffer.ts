// The training consumer's buffer between kafkajs's push and the trainer's pull: decoded
// records waiting for the next batch, and markers for records consumed but never yielded
// (filtered, undecodable), which matter only for the offset they let a commit pass.

export type BufferItem<R> = { kind: 'record'; partition: number; offset: string; record: R } | { kind: 'skip'; partition: number; offset: string };

export class RecordBuffer<R> {
  private items: Array<BufferItem<R>> = [];
  private recordCount = 0;

  /** Records waiting (skip markers not counted). */
  get records(): number {
    return this.recordCount;
  }

  /** Items held, skip markers included. */
  get length(): number {
    return this.items.length;
  }

  /**
   * Adds an item in consumption order. Among the skips after the last buffered record, one
   * per partition is kept (the highest), so a long run of filtered records cannot grow the
   * buffer while the trainer holds batches.
   */
  push(item: BufferItem<R>): void {
    if (item.kind === 'skip') {
      for (let i = this.items.length - 1; i >= 0 && this.items[i]!.kind === 'skip'; i--) {
        if (this.items[i]!.partition === item.partition) {
          this.items[i] = item;
          return;
        }
      }
    }
    this.items.push(item);
    if (item.kind === 'record') this.recordCount++;
  }

  /** The first `records` records (at most what is held) with the skips among and before them. */
  take(records: number): Array<BufferItem<R>> {
    const take = Math.min(records, this.recordCount);
    let n = 0;
    let i = 0;
    while (n < take) if (this.items[i++]!.kind === 'record') n++;
    this.recordCount -= take;
    return this.items.splice(0, i);
  }

  /** Everything held (skip markers only, when called with no records buffered). */
  takeAll(): Array<BufferItem<R>> {
    this.recordCount = 0;
    return this.items.splice(0, this.items.length);
  }

  /** Drops everything; returns how many records were dropped. */
  clear(): number {
    const dropped = this.recordCount;
    this.items = [];
    this.recordCount = 0;
    return dropped;
  }
}
