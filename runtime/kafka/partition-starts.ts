// Where a partition may start, kept per input partition of one node runner. The rule (see
// kafka-node-runner.ts for why): after every (re)assignment and after any failed commit, a
// partition is verified before its next chunk: every transaction of its transactional id is
// completed first, then the group's committed offset is read until two reads agree; the
// floor, the next offset this process itself committed, only ever rises. No record below
// the floor is processed again.
import type { Logger } from '../../core/logger';

export interface PartitionStartsDeps {
  /** Completes or fences every transaction of the partition's transactional id (exactly-once), or nothing. */
  settleTransactions(partition: number): Promise<void>;
  /** The group's committed offset of the partition (undefined when none), as the broker answers now. */
  readCommitted(partition: number): Promise<bigint | undefined>;
  log: Logger;
  /** Pause between two reads of the committed offset (default 50 ms). */
  readGapMs?: number;
  /** Reads after the first before giving up on agreement and taking the highest (default 20). */
  maxReads?: number;
}

export class PartitionStarts {
  private readonly floor = new Map<number, bigint>();
  private readonly verified = new Set<number>();
  /** Counts group joins, so a verification that spans a rebalance is not trusted. */
  private generation = 0;
  /** Times a chunk started below the floor (a stale committed-offset fetch caught). */
  staleStartsCaught = 0;

  constructor(private readonly deps: PartitionStartsDeps) {}

  /** A new group generation: kafkajs re-fetched every committed offset, maybe stale. */
  rejoined(): void {
    this.verified.clear();
    this.generation++;
  }

  /** A commit of the partition failed or its outcome is unknown: verify before the next chunk. */
  invalidate(partition: number): void {
    this.verified.delete(partition);
  }

  /** This process committed the partition up to `next` (exclusive). */
  committed(partition: number, next: bigint): void {
    if (next > (this.floor.get(partition) ?? -1n)) this.floor.set(partition, next);
  }

  /** The next offset known committed, or undefined before anything is known. */
  floorOf(partition: number): bigint | undefined {
    return this.floor.get(partition);
  }

  /** True when a chunk starting at `offset` would process records that are already committed. */
  isBelowFloor(partition: number, offset: string | bigint): boolean {
    const floor = this.floor.get(partition);
    if (floor === undefined || BigInt(offset) >= floor) return false;
    this.staleStartsCaught++;
    return true;
  }

  /**
   * Verifies the partition's start unless already verified in this generation. False when
   * a rebalance came in between: the caller must not process, and tries again later.
   */
  async verify(partition: number): Promise<boolean> {
    if (this.verified.has(partition)) return true;
    const started = Date.now();
    const generation = this.generation;
    await this.deps.settleTransactions(partition);
    const committed = await this.stableCommitted(partition);
    if (committed !== undefined) this.committed(partition, committed);
    // Another member may have owned and committed the partition during the reads: read again.
    if (generation !== this.generation) return false;
    this.verified.add(partition);
    this.deps.log.debug(
      { partition, committed: committed?.toString(), floor: this.floor.get(partition)?.toString(), ms: Date.now() - started },
      'start offset verified',
    );
    return true;
  }

  /** Committed offsets only move forward, so the highest read is the answer once two agree. */
  private async stableCommitted(partition: number): Promise<bigint | undefined> {
    const gap = this.deps.readGapMs ?? 50;
    let best = await this.deps.readCommitted(partition);
    for (let i = 0; i < (this.deps.maxReads ?? 20); i++) {
      await new Promise((r) => setTimeout(r, gap));
      const again = await this.deps.readCommitted(partition);
      const same = again === best;
      if (again !== undefined && (best === undefined || again > best)) best = again;
      if (same) return best;
    }
    this.deps.log.warn({ partition, committed: best?.toString() }, 'committed offset still moving after repeated reads; using the highest seen');
    return best;
  }
}
