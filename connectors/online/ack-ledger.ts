// The training consumer's bookkeeping of which offsets an ack lets it commit, kept apart
// from kafkajs so the ordering rules can be tested on their own.
//
// Per partition, a ledger of the batches that touched it, in the order they were cut. Each
// entry holds the offset to commit once it and every entry before it are acked. An ack
// marks its entries; the partition's commit target then moves over the leading acked
// entries, so acks out of order never commit past an un-acked record. A new group
// generation (rebalance, restart) forgets everything: kafkajs re-reads every partition from
// its committed offset, so batches cut before it commit nothing.

/** An offset to commit: one past the last record consumed in the partition, as Kafka wants it. */
export interface CommitOffset {
  partition: number;
  offset: string;
}

/** What a batch covers, as the ledger recorded it when the batch was cut. */
export interface LedgerTicket {
  readonly seq: number;
  /** The generation the batch was cut in; an ack from an older one commits nothing. */
  readonly generation: number;
  readonly partitions: number[];
}

/** `stale`: a new generation came first; `commit`: a commit target moved; `wait`: an earlier batch is still un-acked. */
export type AckResult = 'stale' | 'commit' | 'wait';

interface LedgerEntry {
  seq: number;
  /** The offset to commit once this entry and every entry before it are acked. */
  next: bigint;
  acked: boolean;
}

/** Per partition, one past the highest offset among the items (items are in offset order). */
export function commitEnds(items: ReadonlyArray<{ partition: number; offset: string }>): Map<number, bigint> {
  const ends = new Map<number, bigint>();
  for (const it of items) ends.set(it.partition, BigInt(it.offset) + 1n);
  return ends;
}

export class AckLedger {
  private gen = 0;
  private readonly ledgers = new Map<number, LedgerEntry[]>();
  private readonly commitTarget = new Map<number, bigint>();
  private readonly committed = new Map<number, bigint>();

  /** Bumped by every reset. */
  get generation(): number {
    return this.gen;
  }

  /** A batch `seq` was cut covering `ends` (see commitEnds); its ack will find it by seq. */
  cut(seq: number, ends: Map<number, bigint>): LedgerTicket {
    for (const [partition, next] of ends) this.ledger(partition).push({ seq, next, acked: false });
    return { seq, generation: this.gen, partitions: [...ends.keys()] };
  }

  /**
   * Records that were consumed but yielded in no batch (filtered, undecodable): committed in
   * order with any un-acked batch before them. True if a commit target moved.
   */
  skipped(ends: Map<number, bigint>): boolean {
    // seq 0: no batch to ack, so no ack may ever find this entry.
    for (const [partition, next] of ends) this.ledger(partition).push({ seq: 0, next, acked: true });
    return this.advance([...ends.keys()]);
  }

  ack(ticket: LedgerTicket): AckResult {
    if (ticket.generation !== this.gen) return 'stale';
    for (const p of ticket.partitions) {
      const entry = this.ledgers.get(p)?.find((e) => e.seq === ticket.seq);
      if (entry) entry.acked = true;
    }
    return this.advance(ticket.partitions) ? 'commit' : 'wait';
  }

  /** The commit targets above what is known to be committed, in the order partitions first moved. */
  pending(): CommitOffset[] {
    return [...this.commitTarget]
      .filter(([p, target]) => target > (this.committed.get(p) ?? -1n))
      .map(([partition, target]) => ({ partition, offset: target.toString() }));
  }

  /**
   * A commit of `offsets` succeeded, sent in `generation`. A reset since then makes it
   * meaningless for the new generation, which starts from whatever Kafka has.
   */
  committedAt(offsets: CommitOffset[], generation: number): void {
    if (generation !== this.gen) return;
    for (const o of offsets) {
      const v = BigInt(o.offset);
      if (v > (this.committed.get(o.partition) ?? -1n)) this.committed.set(o.partition, v);
    }
  }

  /** A new group generation: forget every batch, target and commit. */
  reset(): void {
    this.gen++;
    this.ledgers.clear();
    this.commitTarget.clear();
    this.committed.clear();
  }

  private ledger(partition: number): LedgerEntry[] {
    let l = this.ledgers.get(partition);
    if (!l) this.ledgers.set(partition, (l = []));
    return l;
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
}
