// `valor-stream tail <topic>`: any topic of the topology (and the verdict store and the label
// log) decoded to JSON lines through the registry, read_committed. Dead letters show their
// original bytes decoded when the topic they came from is known.
import type { Command } from 'commander';
import type { KafkaMessage } from 'kafkajs';
import type { AppConfig } from '../config';
import { createLogger } from '../../core/logger';
import { bytesAsBase64 } from '../../core/json-bytes';
import type { RecordTypeName } from '../../schemas/catalog';
import type { DeadLetter } from '../../schemas/generated/types';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { parseOffsets, parseTime, ReadFrom, readTopicFrom } from '../../runtime/kafka/topic-reader';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { configFrom, registryFrom, topologyFrom, withCommon } from '../context';
import { stopOnSignals } from '../signals';

/** Every topic a deployment writes, with its record type: the topology's, the verdict store and the label log. */
export function knownTopics(config: AppConfig): Map<string, RecordTypeName> {
  const topology = topologyFrom(config);
  const out = new Map<string, RecordTypeName>(topology.topics.map((t) => [t.name, t.type]));
  out.set(`${config.stores.topicPrefix}verdicts`, 'VerdictCacheEntry');
  out.set(config.sinks.odvg.labelTopic, 'LabelLogEntry');
  return out;
}

/** JSON for a decoded Avro value: bytes as base64, so each record stays one line. */
export function toJsonLine(v: unknown): string {
  return JSON.stringify(v, bytesAsBase64);
}

/** `a.b=c` filters: every one must hold (values compared as strings). */
export function parseWhere(list: string[]): (v: unknown) => boolean {
  const tests = list.map((w) => {
    const i = w.indexOf('=');
    if (i <= 0) throw new Error(`--where '${w}': expected field.path=value`);
    return { path: w.slice(0, i).split('.'), value: w.slice(i + 1) };
  });
  return (v) =>
    tests.every(({ path, value }) => {
      let x: unknown = v;
      for (const k of path) x = x && typeof x === 'object' ? (x as Record<string, unknown>)[k] : undefined;
      return x !== undefined && String(x) === value;
    });
}

function readFrom(opts: { fromBeginning?: boolean; from?: string; offset?: string }): ReadFrom {
  const given = [opts.fromBeginning, opts.from, opts.offset].filter(Boolean).length;
  if (given > 1) throw new Error('give one of --from-beginning, --from <time>, --offset <partition:offset,...>');
  if (opts.fromBeginning) return { kind: 'beginning' };
  if (opts.from) return { kind: 'time', ms: parseTime(opts.from) };
  if (opts.offset) return { kind: 'offsets', offsets: parseOffsets(opts.offset) };
  return { kind: 'end' };
}

/** One record as printed: coordinates, key, value (or why it did not decode). */
export async function describeRecord(serdes: SerdeSet, types: Map<string, RecordTypeName>, topic: string, partition: number, m: KafkaMessage) {
  const base = { topic, partition, offset: Number(m.offset), timestamp: new Date(Number(m.timestamp)).toISOString(), key: m.key?.toString('utf8') ?? null };
  if (m.value === null) return { ...base, value: null };
  let value: unknown;
  try {
    value = await serdes.for(topic).decode(m.value);
  } catch (err) {
    return { ...base, error: `cannot decode: ${(err as Error).message}`, raw: m.value.toString('base64') };
  }
  if (types.get(topic) !== 'DeadLetter') return { ...base, value };
  const dl = value as DeadLetter;
  let original: unknown = null;
  if (dl.payload && types.has(dl.source.topic))
    original = await serdes
      .for(dl.source.topic)
      .decode(dl.payload)
      .catch(() => null);
  if (original === null && dl.payload) {
    const text = dl.payload.toString('utf8');
    original = Buffer.from(text, 'utf8').equals(dl.payload) ? { text } : null;
  }
  return { ...base, value, payloadDecoded: original };
}

/** Adds `tail` to the program. */
export function registerTailCommand(program: Command): Command {
  return withCommon(program.command('tail'))
    .description('decode a topic to JSON lines (Avro through the registry, read_committed)')
    .argument('<topic>', 'a topic of the topology, the verdict store or the label log')
    .option('--from-beginning', 'from the first retained record')
    .option('--from <time>', 'from the first record at or after an ISO time')
    .option('--offset <p:o,...>', 'from these offsets (only those partitions)')
    .option('-n, --max <n>', 'stop after this many records')
    .option('-f, --follow', 'keep printing new records (default: stop at the end offsets as they were at the start)')
    .option(
      '--where <field=value>',
      'only records whose value field (dot path) equals value; repeatable',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (topic: string, opts) => {
      const config = configFrom(opts);
      const types = knownTopics(config);
      if (!types.has(topic)) throw new Error(`tail: unknown topic '${topic}'; known: ${[...types.keys()].join(', ')}`);
      const from = readFrom(opts);
      const max = opts.max === undefined ? Infinity : Number(opts.max);
      if (!(max > 0)) throw new Error(`-n: expected a positive number, got '${opts.max}'`);
      const keep = parseWhere(opts.where);
      await checkBrokerReachable(config.kafka, brokerSource(opts.config));
      const logger = createLogger('valor-stream', process.env.VALOR_LOG_LEVEL ?? 'warn');
      const kafka = createKafka(config.kafka, logger);
      const serdes = new SerdeSet(registryFrom(config), (t) => types.get(t)!);
      const abort = new AbortController();
      stopOnSignals(logger, 'stopping tail', async () => abort.abort());
      let printed = 0;
      await readTopicFrom(kafka, topic, {
        from,
        follow: Boolean(opts.follow),
        signal: abort.signal,
        onMessage: async (partition, m) => {
          const r = await describeRecord(serdes, types, topic, partition, m);
          if (!keep('value' in r ? r.value : undefined)) return true;
          process.stdout.write(toJsonLine(r) + '\n');
          return ++printed < max;
        },
      });
    });
}
