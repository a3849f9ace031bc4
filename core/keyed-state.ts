// Keyed state that is exactly-once with a node's outputs, in the spirit of Kafka Streams'
// changelogged stores. The state is split by input partition: the records of a key all
// arrive on one partition, so a partition's state moves with the partition. A processor
// reads and writes it while it handles a chunk; the runtime then writes the chunk's
// changes to the node's changelog topic (same partition number) in the same commit as the
// outputs and the input offset. Before a partition's records flow, the runtime loads the
// partition from the changelog; if a commit fails, it forgets the partition and loads it
// again, so the state never runs ahead of what was committed.

export interface KeyedState<S> {
  get(partition: number, key: string): S | undefined;
  set(partition: number, key: string, value: S): void;
  delete(partition: number, key: string): void;
  /** The partition's entries (a snapshot: safe to modify the state while iterating). */
  entries(partition: number): Array<[string, S]>;
}

/** A change to write to the changelog; `null` deletes (a tombstone). */
export interface StateChange<S> {
  key: string;
  value: S | null;
}

/** The runtime's side of keyed state: restore, forget, and collect a chunk's changes. */
export class ChangelogState<S> implements KeyedState<S> {
  private readonly parts = new Map<number, Map<string, S>>();
  /** Last change per key since the previous take: a chunk writes each key at most once. */
  private readonly pending = new Map<number, Map<string, S | null>>();

  /** Replaces a partition's state with what its changelog holds (last value per key wins). */
  restore(partition: number, changes: Iterable<StateChange<S>>): void {
    const map = new Map<string, S>();
    for (const c of changes) {
      if (c.value === null) map.delete(c.key);
      else map.set(c.key, c.value);
    }
    this.parts.set(partition, map);
    this.pending.delete(partition);
  }

  isRestored(partition: number): boolean {
    return this.parts.has(partition);
  }

  restoredPartitions(): number[] {
    return [...this.parts.keys()];
  }

  /** Forgets a partition (moved to another instance, or a commit failed): restore before use. */
  forget(partition: number): void {
    this.parts.delete(partition);
    this.pending.delete(partition);
  }

  /** The changes since the last call, to be committed with the chunk that made them. */
  takeChanges(partition: number): Array<StateChange<S>> {
    const p = this.pending.get(partition);
    if (!p) return [];
    this.pending.delete(partition);
    return [...p].map(([key, value]) => ({ key, value }));
  }

  get(partition: number, key: string): S | undefined {
    return this.part(partition).get(key);
  }

  set(partition: number, key: string, value: S): void {
    this.part(partition).set(key, value);
    this.record(partition, key, value);
  }

  delete(partition: number, key: string): void {
    if (this.part(partition).delete(key)) this.record(partition, key, null);
  }

  entries(partition: number): Array<[string, S]> {
    return [...this.part(partition)];
  }

  size(partition: number): number {
    return this.parts.get(partition)?.size ?? 0;
  }

  private part(partition: number): Map<string, S> {
    const p = this.parts.get(partition);
    // A processor touching an unrestored partition would act on empty state and could
    // emit a group twice; the runtimes restore first, so this is a runtime bug.
    if (!p) throw new Error(`keyed state of partition ${partition} used before it was restored from the changelog`);
    return p;
  }

  private record(partition: number, key: string, value: S | null): void {
    let p = this.pending.get(partition);
    if (!p) this.pending.set(partition, (p = new Map()));
    p.set(key, value);
  }
}
