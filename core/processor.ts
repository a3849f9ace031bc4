// The processor contract. A processor is an RxJS operator from input records to outcomes,
// plus a config schema. It never sees Kafka: both runtimes (embedded log and Kafka) and
// the test driver feed it the same InputRecords and turn its outcomes into topic writes,
// dead letters and offset commits.
import type { Observable, OperatorFunction, SchedulerLike } from 'rxjs';
import type { z } from 'zod';
import type { RecordTypeName, RecordTypes } from '../schemas/catalog';
import type { Logger } from './logger';
import type { Clock } from './clock';
import type { StoreProvider } from './store';
import type { KeyedState } from './keyed-state';
import type { Resources } from './resources';
import type { ReplayEstimateEnv, ReplayEstimator } from './replay-estimate';

/** Where an input came from: enough to find it again and to dead-letter it. */
export interface Origin {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit; kept as decimal strings as kafkajs does. */
  offset: string;
}

export interface InputRecord<T> {
  key: string | null;
  value: T;
  origin: Origin;
  timestamp: number;
}

/** One record a processor wants written, on one of its declared output ports. */
export interface Emit {
  port: string;
  key: string;
  value: unknown;
}

export interface Failure {
  error: unknown;
  attempts: number;
}

/**
 * The result of processing one input. A processor yields exactly one Outcome per input
 * (in any order): outputs to write, or a failure that sends the input to dead letters.
 * Runtimes commit an input's offset only once its outcome is written.
 */
export interface Outcome<T = unknown> {
  input: InputRecord<T>;
  outputs: Emit[];
  failure?: Failure;
}

export type ProcessorOperator<I> = OperatorFunction<InputRecord<I>, Outcome<I>>;

/** Lets a processor hold back consumption (e.g. a circuit breaker) without dropping records. */
export interface FlowControl {
  pause(reason: string): void;
  resume(): void;
  readonly paused$: Observable<boolean>;
}

export interface ProcessorContext {
  /** Node name in the topology (one processor kind can back several nodes). */
  node: string;
  logger: Logger;
  clock: Clock;
  /** Time for operators goes through this scheduler, so marble tests can drive it. */
  scheduler: SchedulerLike;
  flow: FlowControl;
  /** Aborted when the runtime shuts down: long calls should stop waiting. */
  signal: AbortSignal;
  /** Key-value state that outlives records (memory, file or compacted topic, per runtime). */
  stores: StoreProvider;
  /**
   * Keyed state per input partition, committed with the outputs through the node's
   * changelog topic (only for processors that declare `state`).
   */
  state: KeyedState<unknown>;
  /**
   * Runs `punctuator` for every owned partition about every `everyMs` of wall-clock time,
   * also when no record arrives (e.g. to time out what waits for records that never come).
   * What it emits is committed like a chunk's outputs, with its state changes.
   */
  schedule(everyMs: number, punctuator: Punctuator): void;
  /**
   * What the node's processors share with the runtime's other nodes (model providers,
   * detector sessions): owned and closed by the runtime, never by a processor.
   */
  resources: Resources;
  /**
   * The processor's close step: `release` runs once when the runtime stops the node, after
   * its in-flight work is done (releases run newest first; a failing one is logged).
   */
  onClose(release: () => void | Promise<void>): void;
}

/**
 * A record a punctuation gives up on (e.g. one parked while its batch calls ran, whose calls
 * then all failed): the runtime dead-letters it with the input re-encoded as its payload.
 */
export interface PunctuationFailure {
  input: InputRecord<unknown>;
  error: unknown;
  attempts: number;
}

/** A timed callback for one partition; returns the records to write (and those it gives up on). */
export type Punctuator = (
  partition: number,
  now: number,
) => Emit[] | Promise<Emit[]> | Promise<{ emits: Emit[]; failures: PunctuationFailure[] }> | { emits: Emit[]; failures: PunctuationFailure[] };

/**
 * A processor spec of any record types: registries and runtimes hold processors of every
 * kind side by side, and each is checked against its topics by the topology validation.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProcessorSpec = ProcessorSpec<any, any>;

export interface ProcessorSpec<C = unknown, I extends RecordTypeName = RecordTypeName> {
  kind: string;
  description: string;
  input: I;
  /** Port name -> record type written on it. */
  outputs: Record<string, RecordTypeName>;
  config: z.ZodType<C>;
  /**
   * Keyed state of this record type, kept per input partition in the changelog topic the
   * node names (`changelog`): restored before records flow, exactly-once with the outputs.
   */
  state?: { type: RecordTypeName };
  /**
   * Checks and loads what the node needs (model files, endpoints) before it takes any
   * record, so a misconfiguration fails start-up instead of dead-lettering every record.
   */
  prepare?(config: C, ctx: ProcessorContext): Promise<void>;
  /** Opens the node: builds its operator, registering with `ctx.onClose` what to release at stop. */
  create(config: C, ctx: ProcessorContext): ProcessorOperator<RecordTypes[I]>;
  /** For `replay --dry-run`: what reprocessing records would cost (nodes that call models). */
  estimate?(config: C, env: ReplayEstimateEnv): Promise<ReplayEstimator<RecordTypes[I]>>;
}

/** Declares a processor with its types checked; the registry keeps them by kind. */
export function defineProcessor<C, I extends RecordTypeName>(spec: ProcessorSpec<C, I>): ProcessorSpec<C, I> {
  return spec;
}
