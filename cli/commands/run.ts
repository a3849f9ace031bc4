import { Command, Option } from 'commander';
import { AppConfig } from '../config';
import { createLogger } from '../../core/logger';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { providerTotals, sharedProviders } from '../../models/llm/shared-providers';
import { configFrom, registryFrom, topologyFrom, withCommon } from '../context';
import { JobReport, runEmbeddedJob } from '../embedded-job';
import { deadLetterVerdict, formatJobReport } from '../run-report';
import { stopOnSignals } from '../signals';
import { MetricsHandle, startMetrics, withMetricsOptions } from '../metrics-options';

/** A share in [0, 1] from a flag, or a clear error naming the flag. */
export function parseShare(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new Error(`--max-dead-letter-share: expected a number from 0 to 1, got '${v}'`);
  return n;
}

/** Adds `run` (the topology on the embedded log or on Kafka) to the program. */
export function registerRunCommand(program: Command): Command {
  return withMetricsOptions(withCommon(program.command('run')))
    .description('run the topology (all nodes, or --only some) on the embedded log or on Kafka')
    .addOption(new Option('--runtime <runtime>', 'where to run').choices(['embedded', 'kafka']))
    .option('--only <nodes>', 'comma-separated node names to run in this process (kafka)')
    .addOption(new Option('--delivery <mode>', 'kafka delivery guarantee').choices(['exactly-once', 'at-least-once']))
    .option('--group-prefix <prefix>', 'consumer group prefix; a new prefix replays retained topics')
    .option('--corpus <path>', 'embedded: corpus to feed in')
    .option('--out <dir>', 'embedded: output directory')
    .option(
      '--max-dead-letter-share <p>',
      'embedded: exit 3 when a node dead-letters more than this share of its inputs (default: only all of them)',
      parseShare,
    )
    .action(async (opts) => {
      const config = configFrom(opts);
      if (config.runtime === 'embedded') {
        if (!opts.corpus) throw new Error('the embedded runtime needs --corpus <path> (or use `make demo`)');
        const metrics = await startMetrics(opts, { command: 'run' });
        try {
          await runEmbedded(config, opts.corpus, opts.out ?? config.outputDir, config.stores.dir, opts.maxDeadLetterShare, metrics);
        } finally {
          await metrics?.close();
        }
        return;
      }
      await checkBrokerReachable(config.kafka, brokerSource(opts.config));
      const logger = createLogger('valor-stream');
      const topology = topologyFrom(config);
      const metrics = await startMetrics(opts, { command: 'run' });
      const runtime = new KafkaRuntime(topology, {
        kafka: createKafka(config.kafka, logger),
        registry: registryFrom(config),
        config: config.delivery,
        logger,
        only: opts.only
          ? String(opts.only)
              .split(',')
              .map((s: string) => s.trim())
          : undefined,
        storeTopicPrefix: config.stores.topicPrefix,
        metrics: metrics?.metrics,
      });
      stopOnSignals(logger, 'draining and committing before exit', async () => {
        metrics?.stopping();
        await runtime.stop();
        await metrics?.close();
      });
      await runtime.start();
      metrics?.watchBreakers(sharedProviders(runtime.resources));
      metrics?.started();
      setInterval(() => {
        for (const r of runtime.runners) logger.info({ node: r.worker.node.name, ...r.stats }, 'progress');
        for (const t of providerTotals(runtime.resources)) logger.info({ ...t }, 'provider totals');
      }, 10_000).unref();
    });
}

/**
 * Runs a corpus on the embedded runtime, prints what happened and sets the exit code (3 when a
 * node dead-lettered all its inputs or more than `maxDeadLetterShare`). Returns the report.
 */
export async function runEmbedded(
  config: AppConfig,
  corpus: string,
  outDir: string,
  stateDir = config.stores.dir,
  maxDeadLetterShare = 1,
  metrics?: MetricsHandle,
): Promise<JobReport> {
  const report = await runEmbeddedJob(config, { corpus, outDir, stateDir, metrics });
  console.log(formatJobReport(report));
  const verdict = deadLetterVerdict(report, maxDeadLetterShare);
  if (verdict.code !== 0) {
    console.error(`error: ${verdict.reason} (exit code ${verdict.code}; see the dead letters above)`);
    process.exitCode = verdict.code;
  }
  return report;
}
