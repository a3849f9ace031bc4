// `valor-stream consume`: training batches as JSON lines on stdout, acked once written, so
// `valor-stream consume … | python train.py` gets backpressure through the pipe.
import * as readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { Command, Option } from 'commander';
import type { Kafka } from 'kafkajs';
import type { AppConfig } from '../config';
import { configFrom, registryFrom } from '../context';
import { ConfigError, errorMessage } from '../../core/errors';
import { createLogger, type Logger } from '../../core/logger';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { Batch, TrainingConsumer, TrainingConsumerOptions, TrainingConsumerStats } from '../../connectors/online/training-consumer';
import type { RegistryClient } from '../../runtime/registry/registry-client';
import { resolveTopicNames } from '../../topology/topics';
import type { PseudoLabel } from '../../schemas/generated/types';
import type { NodeMetrics } from '../../runtime/metrics/stream-metrics';
import { MetricsFlags, startMetrics, withMetricsOptions } from '../metrics-options';

export const CONSUME_TYPES = ['PseudoLabel', 'RewardGroup'] as const;
export type ConsumeType = (typeof CONSUME_TYPES)[number];

/** What the command needs from its surroundings; every field has a default. */
export interface ConsumeDeps {
  /** Config from -c/--config and the environment (default: cli/context.ts's configFrom). */
  configFrom?: (opts: { config?: string }) => AppConfig;
  /** The registry client (default: cli/context.ts's registryFrom). */
  registryFrom?: (config: AppConfig) => RegistryClient;
  kafkaFrom?: (config: AppConfig, logger: Logger) => Kafka;
  /**
   * Runs before any Kafka client is made and throws when no broker answers (default:
   * broker-preflight.ts's checkBrokerReachable, naming where the brokers came from).
   */
  preflight?: (config: AppConfig, configFile: string | undefined) => Promise<void>;
  /** Builds the consumer (tests substitute a fake); `metrics` is set with --metrics-port. */
  consumerFrom?: (options: TrainingConsumerOptions<unknown>, metrics?: NodeMetrics) => BatchSource;
  stdout?: Writable;
  stdin?: Readable;
  /** Logs go to stderr by default, so stdout carries only batches. */
  logger?: Logger;
  /** Close cleanly on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
}

/** The part of TrainingConsumer the command uses. */
export interface BatchSource {
  batches(): AsyncIterable<Batch<unknown>>;
  close(): Promise<void>;
  readonly stats?: TrainingConsumerStats;
}

interface ConsumeOpts extends MetricsFlags {
  config?: string;
  topic: string;
  type?: ConsumeType;
  group?: string;
  batchSize: string;
  maxBatches?: string;
  maxWaitMs: string;
  fromBeginning?: boolean;
  skipNegativeOnly?: boolean;
  ackStdin?: boolean;
}

/** Adds `consume` to the program. */
export function registerConsumeCommand(program: Command, deps: ConsumeDeps = {}): Command {
  return withMetricsOptions(program.command('consume'))
    .description('print training batches from a topic as JSON lines; each batch is committed once its line is written')
    .option('-c, --config <file>', 'JSON config file (see README: Configuration)')
    .requiredOption('--topic <name>', 'topic to read, e.g. valor.pseudo-labels or valor.reward-groups')
    .addOption(new Option('--type <type>', 'record type (default: from the topic name)').choices([...CONSUME_TYPES]))
    .option('--group <id>', 'consumer group (default: <groupPrefix>.consume.<topic>); the same group resumes where it was acked')
    .option('--batch-size <n>', 'records per batch', '32')
    .option('--max-batches <n>', 'stop after this many batches')
    .option('--max-wait-ms <ms>', 'print a smaller batch after this long without a full one', '1000')
    .option('--from-beginning', 'a new group starts at the earliest record (default: only records produced from now on)')
    .option('--skip-negative-only', 'PseudoLabel: skip records with no accepted box')
    .option('--ack-stdin', 'commit a batch only when its number comes back as a line on stdin (a trainer that crashes mid-step then loses nothing)')
    .action(async (opts: ConsumeOpts) => {
      await runConsume(opts, deps);
    });
}

async function runConsume(opts: ConsumeOpts, deps: ConsumeDeps): Promise<void> {
  const config = (deps.configFrom ?? configFrom)({ config: opts.config });
  const logger = deps.logger ?? createLogger('valor-stream');
  const type = typeOfTopic(opts.topic, opts.type, config);
  const batchSize = positiveInt('--batch-size', opts.batchSize);
  const maxWaitMs = positiveInt('--max-wait-ms', opts.maxWaitMs, 0);
  const maxBatches = opts.maxBatches === undefined ? undefined : positiveInt('--max-batches', opts.maxBatches);
  if (opts.skipNegativeOnly && type !== 'PseudoLabel') throw new ConfigError(`--skip-negative-only applies to PseudoLabel records, not ${type}`);
  await (deps.preflight ?? ((c, file) => checkBrokerReachable(c.kafka, brokerSource(file))))(config, opts.config);

  const options: TrainingConsumerOptions<unknown> = {
    kafka: (deps.kafkaFrom ?? ((c, l) => createKafka(c.kafka, l)))(config, logger),
    registry: (deps.registryFrom ?? registryFrom)(config),
    type,
    topic: opts.topic,
    groupId: opts.group ?? `${config.delivery.groupPrefix}.consume.${opts.topic}`,
    batchSize,
    maxWaitMs,
    maxUnacked: 1, // one line in flight: the pipe, not our memory, holds the backlog
    fromBeginning: Boolean(opts.fromBeginning),
    sessionTimeoutMs: config.delivery.sessionTimeoutMs,
    heartbeatIntervalMs: config.delivery.heartbeatIntervalMs,
    filter: opts.skipNegativeOnly ? (v) => (v as PseudoLabel).accepted.length > 0 : undefined,
    logger,
  };
  const metrics = await startMetrics(opts, { command: 'consume' });
  const node = metrics?.metrics.node('consume');
  const consumer = (deps.consumerFrom ?? ((o, m) => new TrainingConsumer(o, m)))(options, node);
  metrics?.metrics.pollLag(options.kafka, logger);
  metrics?.started(); // the group condition says when partitions are held

  const onSignal = (signal: string) => {
    logger.info({ signal }, 'stopping: the batch not yet acked will be redelivered');
    metrics?.stopping();
    void consumer.close().then(() => process.exit(0));
  };
  if (deps.handleSignals !== false) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const stdout = deps.stdout ?? process.stdout;
  const ackLines = opts.ackStdin ? readline.createInterface({ input: deps.stdin ?? process.stdin, crlfDelay: Infinity }) : undefined;
  const acks = ackLines?.[Symbol.asyncIterator]();
  try {
    const r = await pipeBatches(consumer.batches(), stdout, { maxBatches, acks, metrics: node });
    const s = consumer.stats;
    logger.info(
      { topic: opts.topic, group: options.groupId, ...r, filtered: s?.filtered, undecodable: s?.undecodable },
      `consumed ${r.batches} batches (${r.records} records)`,
    );
  } catch (err) {
    if (!readerGone(err)) throw err;
    logger.warn({ error: errorMessage(err) }, 'the reader went away; the batch in flight was not acked and will be redelivered');
  } finally {
    ackLines?.close(); // an open stdin would keep the process alive
    await consumer.close();
    await metrics?.close();
    if (deps.handleSignals !== false) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/** The record type of a topic: as given, else by the configured name of the topic. */
export function typeOfTopic(topic: string, given: ConsumeType | undefined, config: Pick<AppConfig, 'topics'>): ConsumeType {
  if (given) return given;
  const names = resolveTopicNames(config.topics);
  if (topic === names.pseudoLabels) return 'PseudoLabel';
  if (topic === names.rewardGroups) return 'RewardGroup';
  throw new ConfigError(`cannot tell the record type of topic '${topic}': pass --type ${CONSUME_TYPES.join(' or --type ')}`);
}

function positiveInt(flag: string, raw: string, min = 1): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new ConfigError(`${flag} must be an integer >= ${min}, got '${raw}'`);
  }
  return n;
}

/** The reader went away (closed the pipe or its acks): a normal end for a trainer, not a failure. */
function readerGone(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ACK_EOF';
}

/**
 * One batch as one line: `{"batch": n, "records": [values]}` and a newline. Buffers (Avro
 * bytes) become base64 strings and bigints decimal strings, so any JSON reader can take it.
 */
export function formatBatchLine(n: number, values: readonly unknown[]): string {
  return `${JSON.stringify({ batch: n, records: values.map(jsonSafe) })}\n`;
}

function jsonSafe(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? v.toString() : v;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), jsonSafe(x)]));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = jsonSafe(x);
  return out;
}

/**
 * Writes each batch as a line and acks it once the line has been handed to the OS (the
 * write callback), or, with `acks`, once the reader sends the batch number back. Only one
 * line is ever in flight, so a reader that stops reading stops the consumer (the pipe fills).
 */
export async function pipeBatches(
  source: AsyncIterable<Batch<unknown>>,
  out: Writable,
  opts: { maxBatches?: number; acks?: AsyncIterator<string>; metrics?: NodeMetrics } = {},
): Promise<{ batches: number; records: number }> {
  let batches = 0;
  let records = 0;
  let failure: Error | undefined;
  // A closed pipe is reported through 'error' as well as to the write callback; without a
  // listener it would crash the process instead of ending the loop.
  const onError = (err: Error) => (failure ??= err);
  out.on('error', onError);
  try {
    if (opts.maxBatches === 0) return { batches, records };
    for await (const batch of source) {
      if (failure) throw failure;
      const n = batches + 1;
      await writeLine(
        out,
        formatBatchLine(
          n,
          batch.records.map((r) => r.value),
        ),
      );
      opts.metrics?.committed(0, { processed: 0, emitted: batch.records.length }); // out: written to the reader
      if (opts.acks) await awaitAckLine(opts.acks, n);
      await batch.ack();
      // In: records of acked (committed) batches, by partition.
      if (opts.metrics) for (const [p, count] of countBy(batch.records.map((r) => r.partition))) opts.metrics.committed(p, { processed: count, emitted: 0 });
      batches = n;
      records += batch.records.length;
      if (opts.maxBatches !== undefined && batches >= opts.maxBatches) break;
    }
    return { batches, records };
  } finally {
    out.off('error', onError);
  }
}

function writeLine(out: Writable, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.destroyed || out.writableEnded) {
      reject(Object.assign(new Error('stdout is closed'), { code: 'ERR_STREAM_DESTROYED' }));
      return;
    }
    out.write(line, (err) => (err ? reject(err) : resolve()));
  });
}

async function awaitAckLine(acks: AsyncIterator<string>, n: number): Promise<void> {
  const next = await acks.next();
  if (next.done) throw Object.assign(new Error(`stdin closed before batch ${n} was acknowledged`), { code: 'ACK_EOF' });
  const got = next.value.trim();
  if (got !== String(n)) throw new Error(`expected the acknowledgement '${n}' on stdin, got '${got.slice(0, 80)}'`);
}

function countBy(keys: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}
