// Consumer lag, refreshed by an admin-API poller: per partition this process owns, the end
// offset against the group's committed offset.
//
// Transaction markers: every committed transaction ends with a marker that takes an offset
// and is never delivered. The end offset (the last stable offset, read_committed) lies past
// the marker, while a runner commits one past its last *record*, which is the marker's
// offset. So "end - committed" stays 1 (or more) on a caught-up partition of a topic
// written in transactions. The member knows better: it saw the marker, either in the same
// fetch as the records (kafkajs's batch.lastOffset() counts it) or in a fetch with no
// records at all. partitionLag takes that knowledge and skips the markers; the arithmetic
// is a pure function, tested without a broker.
import type { Admin, Kafka } from 'kafkajs';
import { errorMessage } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { GroupWatch } from './group-watch';
import type { StreamMetrics } from './stream-metrics';

/** What a member knows of a partition beyond the group's committed offset (GroupWatch.progress). */
export interface PartitionProgress {
  /** Next offset not yet processed and committed by this member, markers after its records included. */
  processed?: bigint;
  /** A fetched stretch [from, to) that held no records: markers or aborted records only. */
  empty?: { from: bigint; to: bigint };
  /** Where a group with no committed offset starts (default true: the log start). */
  fromBeginning?: boolean;
}

export interface PartitionOffsets extends PartitionProgress {
  /** The end offset a read_committed consumer can reach (the last stable offset). */
  high: bigint;
  /** The log start offset (records below it were deleted by retention). */
  low: bigint;
  /** The group's committed offset, null when it has none. */
  committed: bigint | null;
}

/**
 * Records still to process: high - max(committed, processed, low), with a stretch of
 * markers that starts at or below that position skipped. 0 when caught up. null when
 * unknown: no committed offset and the group starts at the end (it reads only new records).
 */
export function partitionLag(o: PartitionOffsets): bigint | null {
  if (o.committed === null && o.processed === undefined && o.fromBeginning === false) return null;
  let at = o.low;
  if (o.committed !== null && o.committed > at) at = o.committed;
  if (o.processed !== undefined && o.processed > at) at = o.processed;
  if (o.empty && o.empty.from <= at && o.empty.to > at) at = o.empty.to;
  return o.high > at ? o.high - at : 0n;
}

/** Polls lag for every watched group of `metrics` into `valor_consumer_lag`. */
export class LagPoller {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private connected?: Promise<void>;
  /** Series set by the last refresh, to remove those of partitions no longer owned. */
  private reported = new Map<string, { node: string; topic: string; partition: string }>();
  private failing = false;

  constructor(
    private readonly admin: Admin,
    private readonly metrics: StreamMetrics,
    private readonly log: Logger,
    private readonly intervalMs = metrics.lagIntervalMs,
  ) {}

  /** A poller on its own admin client of `kafka`. */
  static of(kafka: Kafka, metrics: StreamMetrics, log: Logger): LagPoller {
    return new LagPoller(kafka.admin(), metrics, log);
  }

  /** Refreshes now and then every interval. */
  start(): this {
    if (this.timer) return this;
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
    void this.refresh();
    return this;
  }

  /** One refresh now (a refresh in progress is joined, not doubled). Never throws: failures are logged. */
  refresh(): Promise<void> {
    this.running ??= this.poll().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    if (this.connected) await this.admin.disconnect().catch(() => undefined);
    this.connected = undefined;
  }

  private async poll(): Promise<void> {
    try {
      this.connected ??= this.admin.connect();
      await this.connected;
      const ends = new Map<string, Promise<Map<number, { high: bigint; low: bigint }>>>();
      const seen = new Map<string, { node: string; topic: string; partition: string }>();
      for (const watch of [...this.metrics.groups]) {
        const { topic } = watch.opts;
        if (!ends.has(topic)) ends.set(topic, this.endsOf(topic));
        const [end, committed] = await Promise.all([ends.get(topic)!, this.committedOf(watch)]);
        for (const p of watch.assigned) {
          const e = end.get(p);
          if (!e) continue;
          const lag = partitionLag({ ...e, committed: committed.get(p) ?? null, ...watch.progress(p) });
          if (lag === null) continue;
          const labels = { node: watch.node, topic, partition: String(p) };
          this.metrics.defs.lag.set(labels, Number(lag));
          seen.set(JSON.stringify(labels), labels);
        }
      }
      for (const [key, labels] of this.reported) if (!seen.has(key)) this.metrics.defs.lag.remove(labels);
      this.reported = seen;
      if (this.failing) this.log.info('consumer lag is being read again');
      this.failing = false;
    } catch (err) {
      // The last values stay; one warning per outage, not one per interval.
      if (!this.failing) this.log.warn({ error: errorMessage(err) }, 'cannot read consumer lag; retrying every interval');
      this.failing = true;
    }
  }

  private async endsOf(topic: string): Promise<Map<number, { high: bigint; low: bigint }>> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, { high: BigInt(o.high), low: BigInt(o.low) }]));
  }

  private async committedOf(watch: GroupWatch): Promise<Map<number, bigint>> {
    const topics = await this.admin.fetchOffsets({ groupId: watch.opts.groupId, topics: [watch.opts.topic] });
    const parts = topics.find((t) => t.topic === watch.opts.topic)?.partitions ?? [];
    return new Map(parts.filter((x) => x.offset !== '-1' && x.offset !== '').map((x) => [x.partition, BigInt(x.offset)]));
  }
}
