// `valor-stream replay`: one node re-run over the retained input from a time (or offsets) up
// to the end offsets as they were when it started (or `--to`), under its own consumer group
// `<prefix>.<node>.replay.<tag>`, its outputs tagged `replay.tag` in their lineage; then it
// exits. The live group is never touched. `--dry-run` reads the range and says what the
// replay would do: records per partition, stage calls the verdict cache already holds, and
// the calls and dollars for the rest.
import type { Command } from 'commander';
import type { Kafka } from 'kafkajs';
import type { AppConfig } from '../config';
import { createLogger, Logger } from '../../core/logger';
import type { ReplayEstimate, ReplayEstimator } from '../../core/replay-estimate';
import { lookupProcessor } from '../../processors';
import { providerTotals, sharedProviders } from '../../models/llm/shared-providers';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { ensureTopics, retryTransient } from '../../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { KafkaStoreProvider } from '../../runtime/kafka/kafka-store';
import { ReplayBounds, replayGroupId, ReplayRange } from '../../runtime/kafka/replay-bounds';
import { positionReplayGroup, rangeOffsets, ReplayFrom, replayRange } from '../../runtime/kafka/replay-range';
import { parseOffsets, parseTime, readTopicFrom } from '../../runtime/kafka/topic-reader';
import { SerdeSet, serdesFor } from '../../runtime/serde/topic-serde';
import type { NodeSpec, Topology } from '../../topology/topology';
import { validateTopology } from '../../topology/validate';
import { configFrom, registryFrom, topologyFrom, withCommon } from '../context';
import { startMetrics, withMetricsOptions } from '../metrics-options';
import { stopOnSignals } from '../signals';

const TAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `--from`: an ISO time, or partition:offset pairs. */
export function parseReplayFrom(s: string): ReplayFrom {
  if (/^\d+:\d+(\s*,\s*\d+:\d+)*$/.test(s.trim())) return { kind: 'offsets', offsets: parseOffsets(s) };
  return { kind: 'time', ms: parseTime(s) };
}

export interface DryRunReport {
  node: string;
  input: string;
  group: string;
  tag: string;
  partitions: Array<{ partition: number; start: number; end: number; records: number }>;
  records: number;
  estimate: ReplayEstimate | null;
}

export interface ReplayReport {
  node: string;
  group: string;
  tag: string;
  resumed: boolean;
  partitions: Array<{ partition: number; start: number; end: number }>;
  processed: number;
  emitted: number;
  deadLettered: number;
  providerCalls: number;
  costUsd: number;
}

function nodeOf(topology: Topology, name: string | undefined): NodeSpec {
  const names = topology.nodes.map((n) => n.name);
  if (!name) throw new Error(`replay: --node is required (one of ${names.join(', ')})`);
  const node = topology.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`replay: no node '${name}' in topology '${topology.name}' (it has ${names.join(', ')})`);
  return node;
}

/** Adds `replay` to the program. */
export function registerReplayCommand(program: Command): Command {
  return withMetricsOptions(withCommon(program.command('replay')))
    .description('re-run one node over retained input from a time or offsets, under its own group, tagging its outputs; then exit')
    .requiredOption('--node <node>', 'the node to re-run (e.g. verify)')
    .requiredOption('--from <time|p:o,...>', 'an ISO time (first record at or after it, every partition) or partition:offset pairs')
    .option('--to <time>', 'stop before the first record at or after this ISO time (default: the end offsets at start)')
    .requiredOption('--tag <name>', 'names the replay: its group is <prefix>.<node>.replay.<tag>; outputs carry it in lineage (replay.tag)')
    .option('--dry-run', 'read the range and print what the replay would reprocess and cost; change nothing')
    .option('--resume', 'continue a replay of this tag that stopped early (from its group’s offsets)')
    .option('--group-prefix <prefix>', 'consumer group prefix (default: delivery.groupPrefix)')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (opts) => {
      if (!TAG.test(opts.tag)) throw new Error(`--tag '${opts.tag}': use letters, digits, '.', '_' or '-' (up to 64), starting with a letter or digit`);
      const from = parseReplayFrom(opts.from);
      const toMs = opts.to === undefined ? undefined : parseTime(opts.to);
      const config = configFrom(opts);
      const topology = topologyFrom(config);
      const node = nodeOf(topology, opts.node);
      await checkBrokerReachable(config.kafka, brokerSource(opts.config));
      const logger = createLogger('valor-stream', process.env.VALOR_LOG_LEVEL ?? 'warn');
      const kafka = createKafka(config.kafka, logger);
      const group = replayGroupId(config.delivery.groupPrefix, node.name, opts.tag);
      const admin = kafka.admin();
      await admin.connect();
      let range: ReplayRange;
      try {
        range = await replayRange(admin, node.input, from, toMs);
      } finally {
        await admin.disconnect();
      }
      if (opts.dryRun) {
        const report = await dryRun({ config, topology, node, kafka, range, group, tag: opts.tag, logger });
        console.log(opts.json ? JSON.stringify(report) : formatDryRun(report));
        return;
      }
      const report = await replay({ config, topology, node, kafka, range, group, tag: opts.tag, logger }, Boolean(opts.resume), opts);
      console.log(opts.json ? JSON.stringify(report) : formatReplay(report));
    });
}

/** What a replay (or its dry run) works on. */
export interface ReplayJob {
  config: AppConfig;
  topology: Topology;
  node: NodeSpec;
  kafka: Kafka;
  range: ReplayRange;
  group: string;
  tag: string;
  logger: Logger;
}

/** Reads the range (nothing is written, no group joins for good) and asks the node's estimator. */
export async function dryRun({ config, topology, node, kafka, range, group, tag, logger }: ReplayJob): Promise<DryRunReport> {
  const spec = lookupProcessor(node.processor)!;
  const nodeConfig = validateTopology(topology, lookupProcessor).get(node.name);
  const registry = registryFrom(config);
  const serdes = serdesFor(topology, registry);
  const stores = new KafkaStoreProvider(kafka, { topicPrefix: config.stores.topicPrefix, registry, logger });
  const counts = new Map<number, number>([...range.ends.keys()].map((p) => [p, 0]));
  let estimator: ReplayEstimator<unknown> | null = null;
  try {
    if (spec.estimate) {
      estimator = await spec.estimate(nodeConfig, {
        stores,
        logger,
        recentOutputs: (port, max) => recentRecords(kafka, serdes, node.outputs[port]!, max),
      });
    }
    const total = rangeOffsets(range);
    let done = 0;
    const progress = setInterval(() => process.stderr.write(`dry run: read ${done} of at most ${total} offsets\n`), 5_000);
    try {
      await readTopicFrom(kafka, node.input, {
        range,
        onMessage: async (partition, m) => {
          done++;
          counts.set(partition, (counts.get(partition) ?? 0) + 1);
          if (!estimator || m.value === null) return;
          let value: unknown;
          try {
            value = await serdes.for(node.input).decode(m.value);
          } catch {
            return; // the replay would dead-letter it: no call
          }
          await estimator.add(value);
        },
      });
    } finally {
      clearInterval(progress);
    }
  } finally {
    await stores.close();
  }
  const partitions = [...range.ends]
    .sort(([a], [b]) => a - b)
    .map(([partition, end]) => ({
      partition,
      start: Number(range.starts.get(partition) ?? end),
      end: Number(end),
      records: counts.get(partition) ?? 0,
    }));
  return {
    node: node.name,
    input: node.input,
    group,
    tag,
    partitions,
    records: partitions.reduce((s, p) => s + p.records, 0),
    estimate: estimator?.result() ?? null,
  };
}

/** The last `max` records of a topic (spread over its partitions), decoded; undecodable ones skipped. */
async function recentRecords(kafka: Kafka, serdes: SerdeSet, topic: string, max: number): Promise<unknown[]> {
  const admin = kafka.admin();
  await admin.connect();
  let offsets;
  try {
    offsets = await retryTransient(`offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
  } finally {
    await admin.disconnect();
  }
  const per = BigInt(Math.ceil(max / Math.max(1, offsets.length)));
  const starts = new Map<number, bigint>();
  const ends = new Map<number, bigint>();
  for (const o of offsets) {
    const high = BigInt(o.high);
    const low = BigInt(o.low);
    starts.set(o.partition, high - per > low ? high - per : low);
    ends.set(o.partition, high);
  }
  const out: unknown[] = [];
  await readTopicFrom(kafka, topic, {
    range: { starts, ends },
    onMessage: async (_, m) => {
      if (m.value === null) return;
      const v = await serdes
        .for(topic)
        .decode(m.value)
        .catch(() => undefined);
      if (v !== undefined) out.push(v);
    },
  });
  return out;
}

/** Positions the replay group, runs the node until the range is done, stops and reports. */
async function replay(job: ReplayJob, resume: boolean, flags: Parameters<typeof startMetrics>[0]): Promise<ReplayReport> {
  const { config, topology, node, kafka, range, group, tag, logger } = job;
  await ensureTopics(kafka, topology);
  const { starts, resumed } = await positionReplayGroup(kafka, group, node.input, range, resume);
  const bounds = new ReplayBounds(tag, node.input, { starts, ends: range.ends });
  const report = (runtime?: KafkaRuntime): ReplayReport => {
    const stats = runtime?.runners[0]?.stats;
    const totals = runtime ? providerTotals(runtime.resources) : [];
    return {
      node: node.name,
      group,
      tag,
      resumed,
      partitions: bounds.progress().map((p) => ({ partition: p.partition, start: Number(p.start), end: Number(p.end) })),
      processed: stats?.processed ?? 0,
      emitted: stats?.emitted ?? 0,
      deadLettered: stats?.deadLettered ?? 0,
      providerCalls: totals.reduce((s, t) => s + t.calls, 0),
      costUsd: totals.reduce((s, t) => s + t.costUsd, 0),
    };
  };
  if (bounds.finished) return report();
  const metrics = await startMetrics(flags, { command: 'replay' });
  const runtime = new KafkaRuntime(topology, {
    kafka,
    registry: registryFrom(config),
    // A replay never starts where a group without offsets would: its offsets were just set.
    config: kafkaRuntimeSchema.parse({ ...config.delivery }),
    logger,
    only: [node.name],
    storeTopicPrefix: config.stores.topicPrefix,
    metrics: metrics?.metrics,
    replay: bounds,
  });
  const stop = async () => {
    metrics?.stopping();
    await runtime.stop();
    await metrics?.close();
  };
  stopOnSignals(logger, 'stopping the replay (resume it with --resume)', stop);
  process.stderr.write(
    `replay ${tag}: ${node.name} over ${rangeOffsets({ starts, ends: range.ends })} offsets of ${node.input} as group ${group}${resumed ? ' (resumed)' : ''}\n`,
  );
  await runtime.start();
  metrics?.watchBreakers(sharedProviders(runtime.resources));
  metrics?.started();
  const progress = setInterval(() => {
    const left = bounds.progress().reduce((s, p) => s + Number(p.end - p.at), 0);
    process.stderr.write(`replay ${tag}: ${runtime.runners[0]!.stats.processed} records done, ${left} offsets left\n`);
  }, 5_000);
  try {
    await bounds.untilFinished();
  } finally {
    clearInterval(progress);
  }
  const out = report(runtime);
  await stop();
  return out;
}

function money(usd: number): string {
  return `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
}

export function formatDryRun(r: DryRunReport): string {
  const lines = [`dry run: replay '${r.tag}' of ${r.node} (group ${r.group}) over ${r.input}; nothing was changed`];
  const rows = [['partition', 'start', 'end', 'records'], ...r.partitions.map((p) => [p.partition, p.start, p.end, p.records].map(String))];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) lines.push(`  ${row.map((c, i) => c.padStart(widths[i]!)).join('  ')}`);
  lines.push(`  records to reprocess: ${r.records}`);
  const e = r.estimate;
  if (!e) lines.push('  this node calls no model: no calls or dollars to estimate');
  else {
    lines.push(`  stage calls answered by the verdict cache: ${e.calls.cached}`);
    for (const [stage, c] of Object.entries(e.byStage)) {
      lines.push(`    ${stage}: ${c.cached} cached, ${c.certain} certain calls, ${c.expected.toFixed(1)} expected (${c.min}-${c.max})`);
    }
    lines.push(`  provider calls: ${Math.round(e.calls.expected)} expected (${e.calls.certain} certain; ${e.calls.min}-${e.calls.max} possible)`);
    lines.push(`  dollars: ${e.usd === null ? 'unknown' : `${money(e.usd)} expected`}`);
    for (const n of e.notes) lines.push(`  note: ${n}`);
  }
  return lines.join('\n');
}

export function formatReplay(r: ReplayReport): string {
  const span = r.partitions.map((p) => `${p.partition}:${p.start}-${p.end}`).join(', ');
  return [
    `replay '${r.tag}' of ${r.node} done${r.resumed ? ' (resumed)' : ''}: group ${r.group}, offsets ${span || 'none'}`,
    `  records processed: ${r.processed}, records written: ${r.emitted}, dead-lettered: ${r.deadLettered}`,
    `  provider calls: ${r.providerCalls}, cost: ${money(r.costUsd)}`,
    `  outputs carry lineage.versions["replay.tag"] = "${r.tag}"`,
  ].join('\n');
}
