import { setMaxListeners } from 'node:events';
import { BehaviorSubject, from, lastValueFrom, toArray, asyncScheduler, SchedulerLike } from 'rxjs';
import { DecodeError, errorClass, errorMessage, isRetriable, ValorError } from '../../core/errors';
import { deterministicId } from '../../core/ids';
import type { Logger } from '../../core/logger';
import type { FlowControl, InputRecord, Outcome, ProcessorContext, ProcessorOperator, ProcessorSpec } from '../../core/processor';
import { systemClock, Clock } from '../../core/clock';
import { MemoryStoreProvider, StoreProvider } from '../../core/store';
import { deadLetterKey, deadLetterRecord } from './dead-letter';
import type { SerdeSet } from '../serde/topic-serde';
import type { NodeSpec, Topology } from '../../topology/topology';

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
  value: Buffer;
}

export interface ChunkResult {
  messages: OutMessage[];
  processed: number;
  emitted: number;
  deadLettered: number;
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

  constructor(
    readonly topology: Topology,
    readonly node: NodeSpec,
    readonly spec: ProcessorSpec<any, any>,
    private readonly config: unknown,
    readonly serdes: SerdeSet,
    private readonly opts: NodeWorkerOptions,
  ) {
    this.flow = opts.flow ?? new SimpleFlowControl();
    const signal = opts.signal ?? new AbortController().signal;
    // Every in-flight model call listens for shutdown on this one signal.
    setMaxListeners(0, signal);
    const ctx: ProcessorContext = {
      node: node.name,
      logger: opts.logger.child({ node: node.name }),
      clock: opts.clock ?? systemClock,
      scheduler: opts.scheduler ?? asyncScheduler,
      flow: this.flow,
      signal,
      stores: opts.stores ?? new MemoryStoreProvider(),
    };
    this.operator = spec.create(config, ctx);
  }

  /** Registers every schema this node touches, so start-up fails fast on a bad registry. */
  async prepare(): Promise<void> {
    await this.spec.prepare?.(this.config);
    const topics = [this.node.input, ...Object.values(this.node.outputs), this.topology.deadLetterTopic];
    await Promise.all(topics.map((t) => this.serdes.for(t).id()));
  }

  async process(messages: RawMessage[]): Promise<ChunkResult> {
    const dead = new Map<RawMessage, { error: unknown; attempts: number }>();
    const decoded = await Promise.all(
      messages.map(async (m): Promise<InputRecord<unknown> | null> => {
        try {
          const value = await this.serdes.for(m.topic).decode(m.value);
          return { key: m.key ? m.key.toString('utf8') : null, value, origin: { topic: m.topic, partition: m.partition, offset: m.offset }, timestamp: m.timestamp };
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
          encoded = await Promise.all(
            outcome.outputs.map(async (e) => {
              const topic = this.node.outputs[e.port];
              if (!topic) throw new ValorError(`processor emitted on unknown port '${e.port}'`);
              return { topic, key: e.key, value: await this.serdes.for(topic).encode(e.value) };
            }),
          );
        } catch (err) {
          if (isRetriable(err)) throw err;
          failure = { error: err, attempts: 1 };
        }
      } else if (!failure) {
        failure = { error: new Error('processor produced no outcome for this record'), attempts: 1 };
      }
      if (failure) {
        result.messages.push(await this.deadLetter(m, failure.error, failure.attempts));
        result.deadLettered++;
      } else {
        result.messages.push(...encoded);
        result.emitted += encoded.length;
      }
    }
    return result;
  }

  private async deadLetter(m: RawMessage, error: unknown, attempts: number): Promise<OutMessage> {
    const dl = deadLetterRecord(this.node.name, m, error, attempts, (this.opts.clock ?? systemClock).now());
    this.opts.logger.warn({ node: this.node.name, topic: m.topic, partition: m.partition, offset: m.offset, errorClass: dl.errorClass, reason: dl.reason }, 'record dead-lettered');
    const topic = this.topology.deadLetterTopic;
    return { topic, key: deadLetterKey(m), value: await this.serdes.for(topic).encode(dl) };
  }
}

export { DecodeError };
