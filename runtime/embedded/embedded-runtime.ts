import type { SchedulerLike } from 'rxjs';
import { systemClock, Clock } from '../../core/clock';
import { MemoryStoreProvider, StoreProvider } from '../../core/store';
import { silentLogger, Logger } from '../../core/logger';
import { Resources } from '../../core/resources';
import { ConfigError } from '../../core/errors';
import { lookupProcessor } from '../../processors';
import type { RecordTypeName } from '../../schemas/catalog';
import type { Topology } from '../../topology/topology';
import { topicByName } from '../../topology/topology';
import { validateTopology, ProcessorLookup } from '../../topology/validate';
import { MemoryRegistry } from '../registry/memory-registry';
import type { RegistryClient } from '../registry/registry-client';
import { NodeWorker } from '../node-worker';
import type { ChunkResult, OutMessage } from '../node-worker';
import type { StreamMetrics } from '../metrics/stream-metrics';
import { SerdeSet, serdesFor } from '../serde/topic-serde';
import { EmbeddedLog } from './embedded-log';

export interface EmbeddedRuntimeOptions {
  registry?: RegistryClient;
  log?: EmbeddedLog;
  /** Records handed to a node per step: the embedded bound on in-flight work. */
  chunkSize?: number;
  logger?: Logger;
  /** Wall time: default timestamps of produced records, punctuation, processors (default: the system clock). */
  clock?: Clock;
  scheduler?: SchedulerLike;
  lookup?: ProcessorLookup;
  /** Run only these nodes (default all). */
  only?: string[];
  /** Where processors keep state such as the verdict cache (default: in memory). */
  stores?: StoreProvider;
  /** Counts records, dead letters, chunk latency and pauses per node (runtime/metrics); none by default. */
  metrics?: StreamMetrics;
}

export interface NodeStats {
  processed: number;
  emitted: number;
  deadLettered: number;
}

export interface ReadRecord<T> {
  key: string | null;
  value: T;
  partition: number;
  offset: number;
  timestamp: number;
}

/**
 * The topology in one process over an in-memory log, through the same Avro serdes and
 * node workers as the Kafka runtime. Each node step reads a chunk after the node's
 * committed offset, writes its outputs and commits the next offset in one step.
 */
export class EmbeddedRuntime {
  readonly log: EmbeddedLog;
  readonly serdes: SerdeSet;
  readonly stats = new Map<string, NodeStats>();
  private workers: NodeWorker[] = [];
  private started = false;
  private readonly clock: Clock;
  /** Clock time of each node partition's last punctuation. */
  private readonly punctuated = new Map<string, number>();

  readonly stores: StoreProvider;
  /** Shared by this runtime's nodes (model providers, detector sessions); closed by close(). */
  readonly resources: Resources;
  /** The runUntilIdle calls in progress: close() lets them finish first. */
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    readonly topology: Topology,
    private readonly opts: EmbeddedRuntimeOptions = {},
  ) {
    this.log = opts.log ?? new EmbeddedLog();
    this.stores = opts.stores ?? new MemoryStoreProvider();
    this.resources = new Resources(opts.logger);
    this.clock = opts.clock ?? systemClock;
    this.serdes = serdesFor(topology, opts.registry ?? new MemoryRegistry());
  }

  async start(): Promise<void> {
    if (this.started) return;
    const lookup = this.opts.lookup ?? lookupProcessor;
    const configs = validateTopology(this.topology, lookup);
    for (const t of this.topology.topics) this.log.createTopic(t.name, t.partitions);
    const nodes = this.topology.nodes.filter((n) => !this.opts.only || this.opts.only.includes(n.name));
    this.workers = nodes.map(
      (n) =>
        new NodeWorker(this.topology, n, lookup(n.processor)!, configs.get(n.name), this.serdes, {
          logger: this.opts.logger ?? silentLogger,
          clock: this.opts.clock,
          scheduler: this.opts.scheduler,
          stores: this.stores,
          resources: this.resources,
          metrics: this.opts.metrics?.node(n.name),
        }),
    );
    // Every node prepares (loads models, checks credentials) before any record moves, and
    // every failure is reported at once, so one start-up names all that is missing.
    const prepared = await Promise.allSettled(this.workers.map((w) => w.prepare()));
    const failed = prepared.flatMap((r, i) => (r.status === 'rejected' ? [{ node: this.workers[i]!.node.name, err: r.reason as Error }] : []));
    if (failed.length === 1) throw failed[0]!.err;
    if (failed.length > 1) {
      const err = new ConfigError(`${failed.length} nodes cannot start:\n${failed.map((f) => `  - node ${f.node}: ${f.err?.message ?? f.err}`).join('\n')}`);
      throw err;
    }
    for (const w of this.workers) this.stats.set(w.node.name, { processed: 0, emitted: 0, deadLettered: 0 });
    // In one process every partition is this node's, and state is restored before each step.
    for (const w of this.workers) w.metrics?.ready('assigned', true, 'embedded: every partition');
    this.started = true;
  }

  /** Encodes and appends values to a topic, as a producer would. */
  async produce<T>(topic: string, records: Array<{ key: string | null; value: T; timestamp?: number }>): Promise<void> {
    await this.start();
    const serde = this.serdes.for<T>(topic);
    for (const r of records) this.log.append(topic, r.key, await serde.encode(r.value), r.timestamp ?? this.clock.now());
  }

  /** Appends raw bytes (e.g. to test what undecodable input does). */
  async produceRaw(topic: string, key: string | null, value: Buffer | null, partition?: number): Promise<void> {
    await this.start();
    this.log.append(topic, key, value, this.clock.now(), partition);
  }

  /** Runs every node until no node has anything left to read. */
  runUntilIdle(maxSteps = Number.MAX_SAFE_INTEGER): Promise<Map<string, NodeStats>> {
    const run = this.steps(maxSteps);
    const settled = run.catch(() => undefined).finally(() => this.running.delete(settled));
    this.running.add(settled);
    return run;
  }

  private async steps(maxSteps: number): Promise<Map<string, NodeStats>> {
    await this.start();
    const chunk = this.opts.chunkSize ?? 256;
    for (let step = 0; step < maxSteps; step++) {
      let progressed = false;
      for (const w of this.workers) {
        const topic = w.node.input;
        for (let p = 0; p < this.log.partitions(topic); p++) {
          const from = this.log.committed(w.node.name, topic, p);
          const entries = this.log.read(topic, p, from, chunk);
          if (entries.length === 0) continue;
          await this.restoreIfNeeded(w, p);
          const res = await w.process(
            entries.map((e) => ({ topic, partition: p, offset: String(e.offset), key: e.key, value: e.value, timestamp: e.timestamp })),
          );
          // Outputs, state changes and the offset commit in one synchronous step: the embedded transaction.
          this.appendAll(res.messages);
          this.log.commit(w.node.name, topic, p, entries[entries.length - 1]!.offset + 1);
          this.count(w, res, p);
          progressed = true;
        }
      }
      if (await this.punctuate()) progressed = true;
      if (!progressed) break;
    }
    return this.stats;
  }

  /** Runs the punctuators that are due; true when they wrote records on output ports. */
  private async punctuate(): Promise<boolean> {
    let emitted = false;
    for (const w of this.workers) {
      const every = w.punctuateEveryMs;
      if (every === undefined) continue;
      for (let p = 0; p < this.log.partitions(w.node.input); p++) {
        const id = `${w.node.name}\u0000${p}`;
        const now = this.clock.now();
        const last = this.punctuated.get(id);
        if (last !== undefined && now - last < every) continue;
        this.punctuated.set(id, now);
        await this.restoreIfNeeded(w, p);
        const res = await w.punctuate(p);
        this.appendAll(res.messages);
        this.count(w, res, p);
        if (res.emitted > 0) emitted = true;
      }
    }
    return emitted;
  }

  /** Loads a node partition's keyed state from its changelog (a restart on the same log does this). */
  private async restoreIfNeeded(w: NodeWorker, partition: number): Promise<void> {
    const changelog = w.changelog;
    if (!changelog || w.state.isRestored(partition)) return;
    await w.restore(partition, this.log.read(changelog, partition, 0, Number.MAX_SAFE_INTEGER));
  }

  private appendAll(messages: OutMessage[]): void {
    const now = this.clock.now();
    for (const m of messages) this.log.append(m.topic, m.key, m.value, now, m.partition);
  }

  private count(w: NodeWorker, res: ChunkResult, partition: number): void {
    w.metrics?.committed(partition, res);
    const s = this.stats.get(w.node.name)!;
    s.processed += res.processed;
    s.emitted += res.emitted;
    s.deadLettered += res.deadLettered;
  }

  /**
   * Stops the nodes once the work in progress is done: runs each processor's close step,
   * then closes the shared resources and flushes processor state (e.g. the verdict cache file).
   */
  async close(): Promise<void> {
    await Promise.all(this.running);
    await Promise.all(this.workers.map((w) => w.close()));
    await this.resources.closeAll();
    await this.stores.close();
  }

  /** Decodes every record of a topic, partition by partition; a tombstone's value is null. */
  async read<T = unknown>(topic: string): Promise<Array<ReadRecord<T>>> {
    await this.start();
    const serde = this.serdes.for<T>(topic);
    const out: Array<ReadRecord<T>> = [];
    for (let p = 0; p < this.log.partitions(topic); p++) {
      for (const e of this.log.read(topic, p, 0, Number.MAX_SAFE_INTEGER)) {
        // A tombstone (a deleted key in a compacted changelog) reads as null, as on Kafka.
        const value = e.value === null ? (null as T) : await serde.decode(e.value);
        out.push({ key: e.key?.toString('utf8') ?? null, value, partition: p, offset: e.offset, timestamp: e.timestamp });
      }
    }
    return out;
  }

  typeOf(topic: string): RecordTypeName {
    return topicByName(this.topology, topic).type;
  }
}
