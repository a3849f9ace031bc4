// `valor-stream status`: the pipeline as the cluster sees it, with no node running: per node
// its consumer group, members, committed offsets against the high watermarks (lag), and the
// dead letters of the last hour by node and reason.
import type { Command } from 'commander';
import type { Kafka } from 'kafkajs';
import { createLogger } from '../../core/logger';
import type { DeadLetter } from '../../schemas/generated/types';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { retryTransient } from '../../runtime/kafka/kafka-admin';
import { readTopicFrom } from '../../runtime/kafka/topic-reader';
import { partitionLag } from '../../runtime/metrics/lag';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import type { Topology } from '../../topology/topology';
import { configFrom, registryFrom, topologyFrom, withCommon } from '../context';
import { groupDeadLetters, ReasonGroup } from '../run-report';
import { knownTopics } from './tail';

export interface PartitionLag {
  partition: number;
  committed: number | null;
  end: number;
  lag: number;
}

export interface NodeStatus {
  node: string;
  group: string;
  state: string;
  members: string[];
  input: string;
  partitions: PartitionLag[];
  lag: number;
}

export async function nodeStatuses(kafka: Kafka, topology: Topology, groupPrefix: string): Promise<NodeStatus[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out: NodeStatus[] = [];
    for (const n of topology.nodes) {
      const group = `${groupPrefix}.${n.name}`;
      const [described] = (await retryTransient(`describe ${group}`, () => admin.describeGroups([group]))).groups;
      const offsets = await retryTransient(`offsets of ${n.input}`, () => admin.fetchTopicOffsets(n.input));
      const committed = await retryTransient(`offsets of ${group}`, () => admin.fetchOffsets({ groupId: group, topics: [n.input] }));
      const byPartition = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset === '-1' ? null : BigInt(p.offset)]));
      const partitions = offsets
        .map((o) => {
          const c = byPartition.get(o.partition) ?? null;
          // With no commit yet a group starts at the log start (fromBeginning): every retained record counts.
          return {
            partition: o.partition,
            committed: c === null ? null : Number(c),
            end: Number(o.high),
            lag: Number(partitionLag({ committed: c, low: BigInt(o.low), high: BigInt(o.high) }) ?? 0n),
          };
        })
        .sort((a, b) => a.partition - b.partition);
      await countRecords(kafka, n.input, partitions);
      out.push({
        node: n.name,
        group,
        state: described?.state ?? 'Unknown',
        members: (described?.members ?? []).map((m) => `${m.clientId}@${m.clientHost}`),
        input: n.input,
        partitions,
        lag: partitions.reduce((s, p) => s + p.lag, 0),
      });
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** Lags up to this many offsets are counted record by record; larger ones are offset differences. */
const EXACT_LAG_LIMIT = 10_000;

/**
 * Offsets are not records: a topic written in transactions holds a commit marker after each
 * transaction, and a node commits one past its last record, which is that marker's offset, so
 * the offset difference reads 1 on a caught-up partition. Reading the gap read_committed (a
 * fresh group that commits nothing) counts the records really left: markers and aborted
 * records are never delivered.
 */
async function countRecords(kafka: Kafka, topic: string, partitions: PartitionLag[]): Promise<void> {
  const gaps = partitions.filter((p) => p.committed !== null && p.lag > 0 && p.lag <= EXACT_LAG_LIMIT);
  if (!gaps.length) return;
  const counts = new Map<number, number>(gaps.map((p) => [p.partition, 0]));
  await readTopicFrom(kafka, topic, {
    from: { kind: 'offsets', offsets: new Map(gaps.map((p) => [p.partition, BigInt(p.committed!)])) },
    onMessage: (partition) => void counts.set(partition, (counts.get(partition) ?? 0) + 1),
  });
  for (const p of gaps) p.lag = counts.get(p.partition)!;
}

export function formatStatus(nodes: NodeStatus[], deadLetters: ReasonGroup[], sinceMs: number): string {
  const lines: string[] = [];
  for (const n of nodes) {
    lines.push(`${n.node}: group ${n.group} (${n.state}, ${n.members.length} member${n.members.length === 1 ? '' : 's'}), lag ${n.lag} on ${n.input}`);
    for (const m of n.members) lines.push(`    member ${m}`);
    for (const p of n.partitions) lines.push(`    partition ${p.partition}: committed ${p.committed ?? '-'} of ${p.end}, lag ${p.lag}`);
  }
  const since = new Date(sinceMs).toISOString();
  if (!deadLetters.length) lines.push(`dead letters since ${since}: none`);
  else {
    lines.push(`dead letters since ${since}, by node and reason:`);
    for (const g of deadLetters) lines.push(`  ${String(g.count).padStart(5)} × ${g.node} ${g.errorClass}: ${g.example}`);
  }
  return lines.join('\n');
}

/** Adds `status` to the program. */
export function registerStatusCommand(program: Command): Command {
  return withCommon(program.command('status'))
    .description('per node: consumer group, members, lag per partition; dead letters of the last hour (from the cluster alone)')
    .option('--group-prefix <prefix>', 'consumer group prefix (default delivery.groupPrefix)')
    .option('--since <minutes>', 'dead letters of the last this many minutes', '60')
    .option('--json', 'print JSON instead of text')
    .action(async (opts) => {
      const config = configFrom(opts);
      await checkBrokerReachable(config.kafka, brokerSource(opts.config));
      const logger = createLogger('valor-stream', process.env.VALOR_LOG_LEVEL ?? 'warn');
      const kafka = createKafka(config.kafka, logger);
      const topology = topologyFrom(config);
      const nodes = await nodeStatuses(kafka, topology, opts.groupPrefix ?? config.delivery.groupPrefix);
      const sinceMs = Date.now() - Number(opts.since) * 60_000;
      const types = knownTopics(config);
      const serdes = new SerdeSet(registryFrom(config), (t) => types.get(t)!);
      const dls: DeadLetter[] = [];
      await readTopicFrom(kafka, topology.deadLetterTopic, {
        from: { kind: 'time', ms: sinceMs },
        onMessage: async (_p, m) => {
          if (m.value) dls.push(await serdes.for<DeadLetter>(topology.deadLetterTopic).decode(m.value));
        },
      });
      const groups = groupDeadLetters(dls);
      if (opts.json) console.log(JSON.stringify({ nodes, deadLetters: groups, since: new Date(sinceMs).toISOString() }, null, 2));
      else console.log(formatStatus(nodes, groups, sinceMs));
    });
}
