import { Command, Option } from 'commander';
import type { Kafka } from 'kafkajs';
import type { AppConfig } from '../config';
import { createLogger, Logger } from '../../core/logger';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { LocalFileStorage } from '../../connectors/sinks/shard-storage';
import { KafkaLabelRegistry } from '../../connectors/sinks/label-registry';
import { RewardFormat } from '../../connectors/sinks/reward-format';
import { KafkaSinkRunner } from '../../connectors/sinks/kafka-sink-runner';
import type { RecordTypeName } from '../../schemas/catalog';
import type { SinkFormat } from '../../connectors/sinks/partition-sink';
import type { ShardStorage } from '../../connectors/sinks/shard-storage';
import type { ShardRotation } from '../../connectors/sinks/shard-writer';
import { CommonOpts, configFrom, odvgFormatFrom, registryFrom, serdesFrom, topologyFrom, withCommon } from '../context';
import { stopOnSignals } from '../signals';
import { replayFiltered } from '../../connectors/sinks/replay-filter';
import { MetricsFlags, MetricsHandle, startMetrics, withMetricsOptions } from '../metrics-options';

/** Adds `sink odvg` and `sink rewards` to the program. */
export function registerSinkCommand(program: Command): Command {
  const sink = program.command('sink').description('exactly-once file sinks on Kafka (resume from the files, not the group offsets)');
  withMetricsOptions(withCommon(sink.command('odvg')))
    .description('pseudo-labels -> ODVG shards for Open-GroundingDino (images, label_map.json, labels.txt, dataset.json)')
    .option('--out <dir>', 'dataset root (default: sinks.odvg.dir)')
    .addOption(new Option('--mode <mode>', 'od: detection records; vg: grounding records').choices(['od', 'vg']))
    .addOption(new Option('--negatives <what>', 'images whose boxes were all rejected').choices(['keep', 'skip']))
    .option('--group <id>', 'consumer group (default <groupPrefix>.sink.odvg)')
    .option('--stop-at-end', 'write what the topic holds now, publish it and exit (one process)')
    .option('--replay-tag <tag|all>', "write one replay's records (its --tag), or 'all'; default: the live pipeline's only")
    .action(async (opts) => {
      await runKafkaSink(opts, 'odvg', async (config, kafka, logger) => {
        const c = {
          ...config.sinks.odvg,
          ...(opts.out ? { dir: opts.out } : {}),
          ...(opts.mode ? { mode: opts.mode } : {}),
          ...(opts.negatives ? { keepNegativeOnly: opts.negatives === 'keep' } : {}),
        };
        const storage = new LocalFileStorage(c.dir);
        const labels = await KafkaLabelRegistry.open(kafka, c.labelTopic, registryFrom(config));
        const format = odvgFormatFrom(c, storage, labels, logger);
        return { type: 'PseudoLabel', storage, shardDir: 'shards', format, rotation: c.rotation };
      });
    });
  withMetricsOptions(withCommon(sink.command('rewards')))
    .description('reward records or complete reward groups -> JSONL shards')
    .option('--out <dir>', 'output directory (default: sinks.rewards.dir)')
    .addOption(new Option('--records <which>', 'which topic').choices(['records', 'groups']).default('groups'))
    .option('--group <id>', 'consumer group (default <groupPrefix>.sink.rewards-<which>)')
    .option('--stop-at-end', 'write what the topic holds now, publish it and exit (one process)')
    .option('--replay-tag <tag|all>', "write one replay's records (its --tag), or 'all'; default: the live pipeline's only")
    .action(async (opts) => {
      await runKafkaSink(opts, `rewards-${opts.records}`, async (config) => {
        const c = { ...config.sinks.rewards, ...(opts.out ? { dir: opts.out } : {}) };
        const type = opts.records === 'records' ? 'RewardRecord' : 'RewardGroup';
        return { type, storage: new LocalFileStorage(c.dir), shardDir: opts.records, format: new RewardFormat(), rotation: c.rotation };
      });
    });
  return sink;
}

/** Runs a sink until SIGTERM/SIGINT (or, with stopAtEnd, the topic's current end), then publishes its open shards and exits. */
async function runSinkUntilSignal(runner: KafkaSinkRunner<unknown>, logger: Logger, stopAtEnd = false, metrics?: MetricsHandle): Promise<void> {
  const stop = stopOnSignals(logger, 'publishing open shards before exit', async () => {
    metrics?.stopping();
    await runner.stop();
    await metrics?.close();
  });
  const end = stopAtEnd ? runner.untilEnd() : null;
  await runner.start();
  metrics?.started();
  setInterval(() => void runner.totals().then((t) => logger.info({ ...t }, 'sink progress')), 10_000).unref();
  if (end) {
    await end;
    const t = await runner.totals();
    console.log(`reached the end of the topic: ${t.written} records written, ${t.duplicates} duplicates, ${t.deadLettered} dead-lettered`);
    await stop('end of topic');
  }
}

/** What every Kafka sink command shares: config, topics, the client, the runner and its signals. */
async function runKafkaSink(
  opts: CommonOpts & MetricsFlags & { group?: string; stopAtEnd?: boolean; replayTag?: string },
  name: string,
  build: (
    config: AppConfig,
    kafka: Kafka,
    logger: Logger,
  ) => Promise<{ type: RecordTypeName; storage: ShardStorage; shardDir: string; format: SinkFormat<unknown>; rotation: ShardRotation }>,
): Promise<void> {
  const config = configFrom(opts);
  const topology = topologyFrom(config);
  // One clear line within seconds when no broker listens, before kafkajs starts retrying.
  await checkBrokerReachable(config.kafka, brokerSource(opts.config));
  const logger = createLogger('valor-stream');
  const kafka = createKafka(config.kafka, logger);
  await ensureTopics(kafka, topology);
  const s = await build(config, kafka, logger);
  const topic = topology.topics.find((t) => t.type === s.type);
  if (!topic) throw new Error(`topology '${topology.name}' has no ${s.type} topic for the ${name} sink`);
  const metrics = await startMetrics(opts, { command: `sink ${name}` });
  const runner = new KafkaSinkRunner({
    kafka,
    serdes: serdesFrom(config, topology),
    topic: topic.name,
    deadLetterTopic: topology.deadLetterTopic,
    groupId: opts.group ?? `${config.delivery.groupPrefix}.sink.${name}`,
    storage: s.storage,
    shardDir: s.shardDir,
    format: replayFiltered(s.format, opts.replayTag ?? null),
    rotation: s.rotation,
    logger,
    sessionTimeoutMs: config.delivery.sessionTimeoutMs,
    heartbeatIntervalMs: config.delivery.heartbeatIntervalMs,
    metrics: metrics?.metrics,
  });
  await runSinkUntilSignal(runner, logger, Boolean(opts.stopAtEnd), metrics);
}
