import { setMaxListeners } from 'node:events';
import { BehaviorSubject, from, lastValueFrom, toArray, asyncScheduler, SchedulerLike, Subscription } from 'rxjs';
import { DecodeError, isRetriable, ValorError } from '../core/errors';
import type { Logger } from '../core/logger';
import type {
  Emit,
  FlowControl,
  InputRecord,
  Outcome,
  ProcessorContext,
  ProcessorOperator,
  AnyProcessorSpec,
  Punctuator,
  PunctuationFailure,
} from '../core/processor';
import { ChangelogState } from '../core/keyed-state';
import { systemClock, Clock } from '../core/clock';
import { MemoryStoreProvider, StoreProvider } from '../core/store';
import { Resources } from '../core/resources';
import { withReplayTag } from '../core/lineage';
import { deadLetterKey, deadLetterRecord } from './dead-letter';
import type { NodeMetrics } from './metrics/stream-metrics';
import type { SerdeSet } from './serde/topic-serde';
import type { NodeSpec, Topology } from '../topology/topology';

/** A message as read from a log (embedded or Kafka). */
export interface RawMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
}

/** A message to write. */
export interface OutMessage {
  topic: string;
  key: string;
  /** null: a tombstone (a deleted state key in a changelog). */
  value: Buffer | null;
  /** Set for changelog records, which go to the input's partition number; else by key. */
  partition?: number;
}

/** A changelog record as read back for a restore. */
export interface ChangelogEntry {
  key: Buffer | null;
  value: Buffer | null;
}

/**
 * Keys the runtime writes into a changelog for itself (restore barriers, as
 * `__valor.restore.<uuid>` tombstones); never state. Printable on purpose: a leading zero
 * byte reads as the Confluent magic byte to a key decoder. Keys starting with it are
 * reserved: a processor must not use them as state keys.
 */
export const RUNTIME_KEY_PREFIX = '__valor.';

export interface ChunkResult {
  messages: OutMessage[];
  processed: number;
  emitted: number;
  deadLettered: number;
  /** Dead letters by error class (absent when none). */
  deadLetterClasses?: Record<string, number>;
}

/** Flow control that records pause requests; runtimes subscribe to act on them. */
export class SimpleFlowControl implements FlowControl {
  readonly paused$ = new BehaviorSubject<boolean>(false);
  reason: string | null = null;
  pause(reason: string): void {
    this.reason = reason;
    if (!this.paused$.value) this.paused$.next(true);
  }
  resume(): void {
    this.reason = null;
    if (this.paused$.value) this.paused$.next(false);
  }
}

export interface NodeWorkerOptions {
  logger: Logger;
  clock?: Clock;
  scheduler?: SchedulerLike;
  signal?: AbortSignal;
  flow?: FlowControl;
  stores?: StoreProvider;
  /** The runtime's shared resources; without them the worker has its own, closed with it. */
  resources?: Resources;
  /** The node's metrics (runtime/metrics); none by default. */
  metrics?: NodeMetrics;
  /** A replay's tag, written into every output's lineage (`replay.tag`). */
  replayTag?: string;
}

/**
 * Runs one node over chunks of raw messages, identically for every runtime: decode with
 * the input topic's serde, run the processor, encode outputs in input order (so per-key
 * order holds), and turn every failure (undecodable bytes, wrong schema, validation,
 * processing after retries, unencodable output) into a dead letter with the original
 * bytes. A retriable infrastructure failure (e.g. registry unreachable) throws instead,
 * so the runtime retries the chunk without committing anything.
 */
export class NodeWorker {
  readonly operator: ProcessorOperator<unknown>;
  readonly flow: FlowControl;
  /** The node's keyed state (empty and unused unless the processor declares `state`). */
  readonly state = new ChangelogState<unknown>();
  private readonly punctuators: Array<{ everyMs: number; run: Punctuator }> = [];
  private readonly clock: Clock;
  private readonly ctx: ProcessorContext;
  private readonly releases: Array<() => void | Promise<void>> = [];
  private closing: Promise<void> | null = null;
  /** The runtimes count committed chunks through it; the worker times chunks and reports pauses. */
  readonly metrics?: NodeMetrics;
  private pauseSub?: Subscription;

  constructor(
    readonly topology: Topology,
    readonly node: NodeSpec,
    readonly spec: AnyProcessorSpec,
    private readonly config: unknown,
    readonly serdes: SerdeSet,
    private readonly opts: NodeWorkerOptions,
  ) {
    this.flow = opts.flow ?? new SimpleFlowControl();
    const signal = opts.signal ?? new AbortController().signal;
    // Every in-flight model call listens for shutdown on this one signal.
    setMaxListeners(0, signal);
    this.clock = opts.clock ?? systemClock;
    this.ctx = {
      node: node.name,
      logger: opts.logger.child({ node: node.name }),
      clock: this.clock,
      scheduler: opts.scheduler ?? asyncScheduler,
      flow: this.flow,
      signal,
      stores: opts.stores ?? new MemoryStoreProvider(),
      state: this.state,
      schedule: (everyMs, run) => {
        if (!(everyMs > 0)) throw new Error(`node ${node.name}: punctuation interval must be > 0 ms, got ${everyMs}`);
        this.punctuators.push({ everyMs, run });
      },
      resources: opts.resources ?? new Resources(opts.logger),
      onClose: (release) => {
        this.releases.push(release);
      },
    };
    this.operator = spec.create(config, this.ctx);
    this.metrics = opts.metrics;
    if (this.metrics) {
      const m = this.metrics;
      this.pauseSub = this.flow.paused$.subscribe((p) => m.paused(p ? ((this.flow as Partial<SimpleFlowControl>).reason ?? 'paused') : null));
    }
  }

  /** The compacted topic of the node's keyed state, when its processor keeps one. */
  get changelog(): string | undefined {
    return this.spec.state ? this.node.changelog : undefined;
  }

  /** How often the runtime should call `punctuate` per partition (undefined: never). */
  get punctuateEveryMs(): number | undefined {
    return this.punctuators.length ? Math.min(...this.punctuators.map((p) => p.everyMs)) : undefined;
  }

  /** Loads a partition's keyed state from its changelog records, in log order. */
  async restore(partition: number, entries: Iterable<ChangelogEntry>): Promise<number> {
    const topic = this.changelog;
    if (!topic) throw new Error(`node ${this.node.name} keeps no keyed state`);
    const serde = this.serdes.for(topic);
    const changes = [];
    for (const e of entries) {
      const key = e.key?.toString('utf8');
      if (key === undefined || key.startsWith(RUNTIME_KEY_PREFIX)) continue;
      changes.push({ key, value: e.value === null ? null : await serde.decode(e.value) });
    }
    this.state.restore(partition, changes);
    return changes.length;
  }

  /** Runs the punctuators for one partition and encodes what they emit, with the state changes. */
  async punctuate(partition: number): Promise<ChunkResult> {
    const emits: Emit[] = [];
    const failures: PunctuationFailure[] = [];
    const now = this.clock.now();
    try {
      for (const p of this.punctuators) {
        const r = await p.run(partition, now);
        if (Array.isArray(r)) {
          emits.push(...r);
        } else {
          emits.push(...r.emits);
          failures.push(...r.failures);
        }
      }
      const dead = await Promise.all(failures.map((f) => this.deadLetterValue(f)));
      const messages = [
        ...(await Promise.all(emits.map((e) => this.encodeEmit(e)))),
        ...dead.map((d) => d.message),
        ...(await this.changelogMessages([partition])),
      ];
      const deadLetterClasses: Record<string, number> = {};
      for (const d of dead) deadLetterClasses[d.errorClass] = (deadLetterClasses[d.errorClass] ?? 0) + 1;
      return { messages, processed: 0, emitted: emits.length, deadLettered: dead.length, ...(dead.length ? { deadLetterClasses } : {}) };
    } catch (err) {
      this.state.forget(partition); // its changes will not be committed
      throw err;
    }
  }

  /** Registers every schema this node touches, so start-up fails fast on a bad registry. */
  async prepare(): Promise<void> {
    await this.spec.prepare?.(this.config, this.ctx);
    const topics = [this.node.input, ...Object.values(this.node.outputs), this.topology.deadLetterTopic, ...(this.changelog ? [this.changelog] : [])];
    await Promise.all(topics.map((t) => this.serdes.for(t).id()));
  }

  /**
   * Runs the processor's close step (its `ctx.onClose` releases, newest first). The runtime
   * calls it once the node's in-flight work is done; a failing release does not stop the
   * others. Resources the runtime gave stay open: the runtime closes them after every node.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.pauseSub?.unsubscribe();
      for (const release of this.releases.splice(0).reverse()) {
        try {
          await release();
        } catch (err) {
          this.opts.logger.warn({ node: this.node.name, error: String(err) }, 'processor close step failed');
        }
      }
      if (!this.opts.resources) await this.ctx.resources.closeAll();
    })();
    return this.closing;
  }

  async process(messages: RawMessage[]): Promise<ChunkResult> {
    if (!this.metrics) return this.processState(messages);
    const started = performance.now();
    const result = await this.processState(messages);
    this.metrics.processed(messages.length, (performance.now() - started) / 1000);
    return result;
  }

  private async processState(messages: RawMessage[]): Promise<ChunkResult> {
    if (!this.changelog) return this.processChunk(messages);
    const partitions = [...new Set(messages.map((m) => m.partition))];
    const missing = partitions.filter((p) => !this.state.isRestored(p));
    if (missing.length) throw new Error(`node ${this.node.name}: partitions ${missing.join(', ')} processed before their state was restored (runtime bug)`);
    try {
      const result = await this.processChunk(messages);
      result.messages.push(...(await this.changelogMessages(partitions)));
      return result;
    } catch (err) {
      // The chunk is not committed, so neither are its state changes: reload from the changelog.
      for (const p of partitions) this.state.forget(p);
      throw err;
    }
  }

  private async processChunk(messages: RawMessage[]): Promise<ChunkResult> {
    const dead = new Map<RawMessage, { error: unknown; attempts: number }>();
    const decoded = await Promise.all(
      messages.map(async (m): Promise<InputRecord<unknown> | null> => {
        try {
          const value = await this.serdes.for(m.topic).decode(m.value);
          return {
            key: m.key ? m.key.toString('utf8') : null,
            value,
            origin: { topic: m.topic, partition: m.partition, offset: m.offset },
            timestamp: m.timestamp,
          };
        } catch (err) {
          if (isRetriable(err)) throw err;
          dead.set(m, { error: err, attempts: 1 });
          return null;
        }
      }),
    );
    const inputs = decoded.filter((r): r is InputRecord<unknown> => r !== null);
    const outcomes = inputs.length ? await lastValueFrom(from(inputs).pipe(this.operator, toArray())) : [];
    if (this.opts.signal?.aborted) {
      // Shutdown cut calls short: their failures say nothing about the records. Leave the
      // chunk uncommitted so it is redelivered, instead of dead-lettering good records.
      throw new ValorError(`node ${this.node.name} is stopping; chunk left uncommitted for redelivery`, { retriable: true });
    }
    if (outcomes.length !== inputs.length) {
      throw new Error(`processor ${this.spec.kind} (node ${this.node.name}) returned ${outcomes.length} outcomes for ${inputs.length} inputs`);
    }
    const byOffset = new Map<string, Outcome>(outcomes.map((o) => [`${o.input.origin.partition}:${o.input.origin.offset}`, o]));

    const result: ChunkResult = { messages: [], processed: messages.length, emitted: 0, deadLettered: 0 };
    for (const m of messages) {
      const failed = dead.get(m);
      const outcome = byOffset.get(`${m.partition}:${m.offset}`);
      let failure = failed ?? outcome?.failure;
      let encoded: OutMessage[] = [];
      if (!failure && outcome) {
        try {
          encoded = await Promise.all(outcome.outputs.map((e) => this.encodeEmit(e)));
        } catch (err) {
          if (isRetriable(err)) throw err;
          failure = { error: err, attempts: 1 };
        }
      } else if (!failure) {
        failure = { error: new Error('processor produced no outcome for this record'), attempts: 1 };
      }
      if (failure) {
        const dl = await this.deadLetter(m, failure.error, failure.attempts);
        result.messages.push(dl.message);
        result.deadLettered++;
        result.deadLetterClasses ??= {};
        result.deadLetterClasses[dl.errorClass] = (result.deadLetterClasses[dl.errorClass] ?? 0) + 1;
      } else {
        result.messages.push(...encoded);
        result.emitted += encoded.length;
      }
    }
    return result;
  }

  private async encodeEmit(e: Emit): Promise<OutMessage> {
    const topic = this.node.outputs[e.port];
    if (!topic) throw new ValorError(`processor emitted on unknown port '${e.port}'`);
    const value = this.opts.replayTag ? withReplayTag(e.value, this.opts.replayTag) : e.value;
    return { topic, key: e.key, value: await this.serdes.for(topic).encode(value) };
  }

  private async changelogMessages(partitions: number[]): Promise<OutMessage[]> {
    const topic = this.changelog;
    if (!topic) return [];
    const serde = this.serdes.for(topic);
    const out: OutMessage[] = [];
    for (const partition of partitions) {
      for (const c of this.state.takeChanges(partition)) {
        out.push({ topic, partition, key: c.key, value: c.value === null ? null : await serde.encode(c.value) });
      }
    }
    return out;
  }

  /** A dead letter for a record the processor held (no raw bytes kept): its value re-encoded with the input's schema. */
  private async deadLetterValue(f: PunctuationFailure): Promise<{ message: OutMessage; errorClass: string }> {
    const { origin, key, timestamp, value } = f.input;
    const bytes = await this.serdes.for(origin.topic).encode(value);
    const raw: RawMessage = { ...origin, key: key === null ? null : Buffer.from(key), value: bytes, timestamp };
    return this.deadLetter(raw, f.error, f.attempts);
  }

  private async deadLetter(m: RawMessage, error: unknown, attempts: number): Promise<{ message: OutMessage; errorClass: string }> {
    const dl = deadLetterRecord(this.node.name, m, error, attempts, this.clock.now());
    this.opts.logger.warn(
      { node: this.node.name, topic: m.topic, partition: m.partition, offset: m.offset, errorClass: dl.errorClass, reason: dl.reason },
      'record dead-lettered',
    );
    const topic = this.topology.deadLetterTopic;
    return { message: { topic, key: deadLetterKey(m), value: await this.serdes.for(topic).encode(dl) }, errorClass: dl.errorClass };
  }
}

export { DecodeError };
