// What a consumer-group member tells the metrics: rebalances, whether it holds its
// partitions (readiness), and how far it has processed each one, transaction markers
// included, for the lag poller (lag.ts). It listens to kafkajs's instrumentation events,
// so a runner only attaches it and reports its commits.
import type { Consumer } from 'kafkajs';
import type { NodeWorker } from '../node-worker';
import type { PartitionProgress } from './lag';
import type { NodeMetrics } from './stream-metrics';

export type { NodeMetrics };

/** The part of a kafkajs consumer the watch listens to (tests pass a fake). */
export type WatchedConsumer = Pick<Consumer, 'on' | 'events'>;

export interface GroupWatchOptions {
  topic: string;
  groupId: string;
  /** Where a group with no committed offset starts (lag counts from the log start when true). */
  fromBeginning?: boolean;
  /** Keyed state: is this partition's state loaded? Adds the condition `node:<name>:restored`. */
  restored?: (partition: number) => boolean;
}

export class GroupWatch {
  /** Partitions this member owns, as of its last join. */
  readonly assigned = new Set<number>();
  /** Per partition, the next offset not yet processed and committed, markers after the records included. */
  private readonly done = new Map<number, bigint>();
  /** Per partition, the last fetched stretch that held no records (only markers or aborted records). */
  private readonly empty = new Map<number, { from: bigint; to: bigint }>();
  private readonly detach: Array<() => void> = [];
  private readonly unprobe?: () => void;

  constructor(
    readonly metrics: NodeMetrics,
    readonly opts: GroupWatchOptions,
  ) {
    metrics.ready('assigned', false, 'not in the consumer group yet');
    const restored = opts.restored;
    if (restored) {
      this.unprobe = metrics.stream.ready.probe(`node:${metrics.node}:restored`, () => {
        const missing = [...this.assigned].filter((p) => !restored(p));
        return { ok: missing.length === 0, reason: missing.length ? `state of partitions ${missing.join(', ')} not restored yet` : undefined };
      });
    }
    metrics.group = this;
    metrics.stream.groups.add(this);
  }

  get node(): string {
    return this.metrics.node;
  }

  /** Listens to the consumer's group events; `close` stops listening. */
  attach(consumer: WatchedConsumer): this {
    const { events } = consumer;
    this.detach.push(
      consumer.on(events.GROUP_JOIN, (e) => {
        this.metrics.rebalanced();
        this.assigned.clear();
        for (const p of (e.payload.memberAssignment[this.opts.topic] ?? []) as number[]) this.assigned.add(p);
        // More members than partitions leaves some with none: still a healthy member.
        const held = [...this.assigned].sort((a, b) => a - b);
        this.metrics.ready('assigned', true, held.length ? `partitions ${held.join(', ')}` : 'no partitions (more members than partitions)');
      }),
      consumer.on(events.REBALANCING, () => this.metrics.ready('assigned', false, 'rebalancing')),
      consumer.on(events.CRASH, (e) => this.metrics.ready('assigned', false, `consumer crashed: ${String(e.payload.error)}`)),
      consumer.on(events.STOP, () => this.metrics.ready('assigned', false, 'stopped')),
      consumer.on(events.END_BATCH_PROCESS, (e) => {
        const { topic, partition, batchSize, firstOffset, lastOffset } = e.payload as {
          topic: string;
          partition: number;
          batchSize: number;
          firstOffset: string | null;
          lastOffset: string;
        };
        // kafkajs reports fetches that held only markers or aborted records this way.
        if (topic === this.opts.topic && batchSize === 0 && firstOffset !== null) {
          this.empty.set(partition, { from: BigInt(firstOffset), to: BigInt(lastOffset) + 1n });
        }
      }),
    );
    return this;
  }

  /** Everything below `next` of `partition` is processed and committed (or holds no records). */
  processed(partition: number, next: bigint): void {
    if (next > (this.done.get(partition) ?? -1n)) this.done.set(partition, next);
  }

  /** What this member knows of a partition beyond the group's committed offset. */
  progress(partition: number): PartitionProgress {
    return { processed: this.done.get(partition), empty: this.empty.get(partition), fromBeginning: this.opts.fromBeginning ?? true };
  }

  close(): void {
    for (const d of this.detach.splice(0)) d();
    this.unprobe?.();
    this.metrics.ready('assigned', false, 'stopped');
    this.metrics.stream.groups.delete(this);
    if (this.metrics.group === this) this.metrics.group = undefined;
  }
}

/**
 * Watches a node runner's consumer when its worker has metrics (else does nothing): the
 * node's input topic and group, and for a stateful node whether its partitions are restored.
 */
export function watchWorker(
  worker: Pick<NodeWorker, 'metrics' | 'node' | 'changelog' | 'state'>,
  consumer: WatchedConsumer,
  groupId: string,
  fromBeginning: boolean,
): GroupWatch | undefined {
  if (!worker.metrics) return undefined;
  const restored = worker.changelog ? (p: number) => worker.state.isRestored(p) : undefined;
  return new GroupWatch(worker.metrics, { topic: worker.node.input, groupId, fromBeginning, restored }).attach(consumer);
}
