// The stream metrics, after Kafka Streams' thread/task/processor-node metrics, on a
// prom-client Registry the caller passes in (never the global one), so tests and several
// runtimes in one process stay apart. docs/metrics.md lists them. Runtimes take an optional
// StreamMetrics; without one nothing here runs.
//
// Counts follow commits: records in/out and dead letters are counted once their chunk's
// transaction (or embedded step) committed, so a chunk retried after an abort counts once.
// Latency is per chunk: decode, processor and encode of one chunk, as the node worker sees it.
import type { Kafka } from 'kafkajs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../../core/logger';
import { Readiness } from './readiness';
import type { GroupWatch } from './group-watch';
import { LagPoller } from './lag';

/** How often consumer lag is refreshed unless configured. */
export const DEFAULT_LAG_INTERVAL_MS = 10_000;

function definitions(registry: Registry) {
  // Two StreamMetrics on one registry share the series: prom-client refuses a second
  // registration of a name, so reuse what is there.
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    get(name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }));
  const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
    get(name, () => new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] }));
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
    get(name, () => new Gauge<L>({ name, help, labelNames, registers: [registry] }));
  return {
    recordsIn: counter('valor_records_in_total', 'Records a node (or sink) consumed and committed, by input partition', ['node', 'partition']),
    recordsOut: counter('valor_records_out_total', 'Records a node wrote on its output ports and committed (not dead letters, not changelog)', ['node']),
    deadLetters: counter('valor_dead_letters_total', 'Records sent to the dead-letter topic, by the class of the error', ['node', 'error_class']),
    processLatency: histogram(
      'valor_process_latency_seconds',
      'Time to process one chunk (decode, processor with its retries, encode), per chunk',
      ['node'],
      [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    ),
    chunkRecords: histogram('valor_chunk_records', 'Records per processed chunk', ['node'], [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000]),
    commitLatency: histogram(
      'valor_commit_latency_seconds',
      'Time to commit one chunk: the Kafka transaction (send, sendOffsets, commit), or produce and offset commit at-least-once',
      ['node'],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
    aborts: counter('valor_transaction_aborts_total', 'Transactions that failed and were aborted (the chunk is retried from the last commit)', ['node']),
    rebalances: counter('valor_rebalances_total', "Consumer group joins of the node's consumer, the first one included", ['node']),
    paused: gauge('valor_paused', 'Whether the node has paused its input (1) and why; 0 once resumed', ['node', 'reason']),
    lag: gauge(
      'valor_consumer_lag',
      'Offsets of a partition this process owns that its group has still to process: end (last stable) offset minus committed, trailing transaction markers skipped',
      ['node', 'topic', 'partition'],
    ),
    sinkShards: counter('valor_sink_shards_total', 'Shard files a sink published', ['node', 'topic']),
    sinkRecords: counter('valor_sink_records_total', 'Lines in the shard files a sink published', ['node', 'topic']),
    sinkBytes: counter('valor_sink_bytes_total', 'Bytes of the shard files a sink published', ['node', 'topic']),
  };
}

export type StreamMetricDefinitions = ReturnType<typeof definitions>;

export interface StreamMetricsOptions {
  /** Where components report readiness (default: a new registry). */
  ready?: Readiness;
  /** How often the lag poller refreshes `valor_consumer_lag` (default 10 s). */
  lagIntervalMs?: number;
}

export class StreamMetrics {
  readonly ready: Readiness;
  readonly lagIntervalMs: number;
  readonly defs: StreamMetricDefinitions;
  /** Consumer groups whose lag the poller reports (see group-watch.ts). */
  readonly groups = new Set<GroupWatch>();
  private readonly nodes = new Map<string, NodeMetrics>();
  private poller?: LagPoller;

  constructor(
    readonly registry: Registry = new Registry(),
    opts: StreamMetricsOptions = {},
  ) {
    this.ready = opts.ready ?? new Readiness();
    this.lagIntervalMs = opts.lagIntervalMs ?? DEFAULT_LAG_INTERVAL_MS;
    this.defs = definitions(registry);
  }

  /** The metrics of one node (or sink, or consumer), by its name; one object per name. */
  node(name: string): NodeMetrics {
    let n = this.nodes.get(name);
    if (!n) this.nodes.set(name, (n = new NodeMetrics(this, name)));
    return n;
  }

  /** Starts polling the lag of the watched groups with an admin client of `kafka`; one poller per StreamMetrics. */
  pollLag(kafka: Kafka, log: Logger): LagPoller {
    return (this.poller ??= LagPoller.of(kafka, this, log).start());
  }

  /** The lag poller, once started (tests call `lag.refresh()` instead of waiting an interval). */
  get lag(): LagPoller | undefined {
    return this.poller;
  }

  /** Stops the lag poller. */
  async close(): Promise<void> {
    const p = this.poller;
    this.poller = undefined;
    await p?.stop();
  }
}

/** What a committed chunk did (a ChunkResult, or a sink's handled records). */
export interface CommittedChunk {
  processed: number;
  emitted: number;
  /** Dead letters by error class. */
  deadLetterClasses?: Record<string, number>;
}

/** One node's series and readiness conditions (`node:<name>:<condition>`). */
export class NodeMetrics {
  private pausedReason: string | null = null;

  constructor(
    readonly stream: StreamMetrics,
    readonly node: string,
  ) {}

  /** A chunk was processed in `seconds` (observed whether or not it commits). */
  processed(records: number, seconds: number): void {
    this.stream.defs.processLatency.observe({ node: this.node }, seconds);
    this.stream.defs.chunkRecords.observe({ node: this.node }, records);
  }

  /**
   * A chunk of `partition` committed: counts its records and dead letters, observes the commit
   * time, and, given the next offset, moves the lag's processed position.
   */
  committed(partition: number, r: CommittedChunk, opts: { seconds?: number; next?: string } = {}): void {
    const d = this.stream.defs;
    if (r.processed) d.recordsIn.inc({ node: this.node, partition: String(partition) }, r.processed);
    if (r.emitted) d.recordsOut.inc({ node: this.node }, r.emitted);
    for (const [cls, n] of Object.entries(r.deadLetterClasses ?? {})) this.deadLettered(cls, n);
    if (opts.seconds !== undefined) d.commitLatency.observe({ node: this.node }, opts.seconds);
    if (opts.next !== undefined) this.group?.processed(partition, BigInt(opts.next));
  }

  /** Dead letters written at once (sinks, which have no transaction). */
  deadLettered(errorClass: string, n = 1): void {
    this.stream.defs.deadLetters.inc({ node: this.node, error_class: errorClass }, n);
  }

  aborted(): void {
    this.stream.defs.aborts.inc({ node: this.node });
  }

  rebalanced(): void {
    this.stream.defs.rebalances.inc({ node: this.node });
  }

  /**
   * Paused with a reason, or resumed (null). A pause makes the process not ready unless
   * `affectsReadiness` is false (a trainer holding its batches is normal work, not an outage).
   */
  paused(reason: string | null, affectsReadiness = true): void {
    const gauge = this.stream.defs.paused;
    // Long reasons would make long label values; the log has the whole text.
    const label = reason?.slice(0, 120) ?? null;
    if (this.pausedReason !== null && this.pausedReason !== label) gauge.set({ node: this.node, reason: this.pausedReason }, 0);
    this.pausedReason = label;
    if (label !== null) gauge.set({ node: this.node, reason: label }, 1);
    if (affectsReadiness) this.ready('flowing', reason === null, reason === null ? undefined : `paused: ${reason}`);
  }

  /** Sink shards published (files with their line and byte counts). */
  published(topic: string, shards: ReadonlyArray<{ records: number; bytes: number }>): void {
    if (!shards.length) return;
    const d = this.stream.defs;
    const labels = { node: this.node, topic };
    d.sinkShards.inc(labels, shards.length);
    d.sinkRecords.inc(
      labels,
      shards.reduce((s, x) => s + x.records, 0),
    );
    d.sinkBytes.inc(
      labels,
      shards.reduce((s, x) => s + x.bytes, 0),
    );
  }

  /** Reports `node:<name>:<condition>`. */
  ready(condition: string, ok: boolean, reason?: string): void {
    this.stream.ready.set(`node:${this.node}:${condition}`, ok, reason);
  }

  /** The node's consumer group, once it is watched (its lag is then polled). */
  group?: GroupWatch;
}
