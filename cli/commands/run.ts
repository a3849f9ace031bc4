import * as path from 'node:path';
import { Command, Option } from 'commander';
import { AppConfig } from '../config';
import { createLogger, Logger } from '../../core/logger';
import { EmbeddedRuntime } from '../../runtime/embedded/embedded-runtime';
import { EmbeddedWriter } from '../../runtime/embedded/embedded-writer';
import { dumpTopics } from '../../runtime/embedded/topic-dump';
import { produceCorpus } from '../../connectors/corpus/corpus-source';
import { countLines } from '../../connectors/corpus/corpus-reader';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { FileStoreProvider } from '../../runtime/state/file-store';
import { providerTotals } from '../../models/llm/shared-providers';
import type { ProviderTotals } from '../../models/llm/resilient-provider';
import { LocalFileStorage } from '../../connectors/sinks/shard-storage';
import { FileLabelRegistry } from '../../connectors/sinks/label-registry';
import { DATASET_FILE, OdvgFormat } from '../../connectors/sinks/odvg-format';
import { runEmbeddedSink } from '../../connectors/sinks/embedded-sink';
import { configFrom, corpusTopics, registryFrom, topologyFrom, withCommon } from '../context';
import { progress } from '../progress';
import { stopOnSignals } from '../signals';

/** Adds `run` (the topology on the embedded log or on Kafka) to the program. */
export function registerRunCommand(program: Command): Command {
  return withCommon(program.command('run'))
    .description('run the topology (all nodes, or --only some) on the embedded log or on Kafka')
    .addOption(new Option('--runtime <runtime>', 'where to run').choices(['embedded', 'kafka']))
    .option('--only <nodes>', 'comma-separated node names to run in this process (kafka)')
    .addOption(new Option('--delivery <mode>', 'kafka delivery guarantee').choices(['exactly-once', 'at-least-once']))
    .option('--group-prefix <prefix>', 'consumer group prefix; a new prefix replays retained topics')
    .option('--corpus <path>', 'embedded: corpus to feed in')
    .option('--out <dir>', 'embedded: output directory')
    .action(async (opts) => {
      const config = configFrom(opts);
      if (config.runtime === 'embedded') {
        if (!opts.corpus) throw new Error('the embedded runtime needs --corpus <path> (or use `make demo`)');
        await runEmbedded(config, opts.corpus, opts.out ?? config.outputDir);
        return;
      }
      const logger = createLogger('valor-stream');
      const topology = topologyFrom(config);
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
      });
      stopOnSignals(logger, 'draining and committing before exit', () => runtime.stop());
      await runtime.start();
      setInterval(() => {
        for (const r of runtime.runners) logger.info({ node: r.worker.node.name, ...r.stats }, 'progress');
        for (const t of providerTotals(runtime.resources)) logger.info({ ...t }, 'provider totals');
      }, 10_000).unref();
    });
}

function formatTotals(t: ProviderTotals): string {
  return `provider ${t.provider}/${t.model}: ${t.calls} calls (${t.failures} failed, ${t.retries} retries, ${t.rateLimitWaits} rate-limit waits, ${t.breakerOpens} breaker opens), tokens in/out ${t.inputTokens}/${t.outputTokens}, $${t.costUsd.toFixed(4)}`;
}

/** The embedded run's pseudo-labels as ODVG shards (same sink code as on Kafka). */
async function writeOdvgEmbedded(config: AppConfig, runtime: EmbeddedRuntime, stateDir: string, logger: Logger) {
  const topic = runtime.topology.topics.find((t) => t.type === 'PseudoLabel')?.name;
  if (!topic || !runtime.topology.nodes.some((n) => Object.values(n.outputs).includes(topic))) return null;
  const c = config.sinks.odvg;
  const storage = new LocalFileStorage(c.dir);
  const labels = await FileLabelRegistry.open(path.join(stateDir, 'labels.log'));
  const format = new OdvgFormat({
    storage,
    rootPath: path.resolve(c.dir),
    shardDir: 'shards',
    labels,
    images: c.images,
    mode: c.mode,
    keepNegativeOnly: c.keepNegativeOnly,
    logger,
  });
  const r = await runEmbeddedSink({ runtime, topic, storage, shardDir: 'shards', format, rotation: c.rotation, logger });
  await format.onShardsClosed();
  await labels.close();
  return r;
}

/** Runs a corpus through the topology in this process and writes every topic to files (also the demo's main job). */
export async function runEmbedded(config: AppConfig, corpus: string, outDir: string, stateDir = config.stores.dir): Promise<void> {
  const topology = topologyFrom(config);
  const logger = createLogger('valor-stream');
  const runtime = new EmbeddedRuntime(topology, { logger, stores: new FileStoreProvider(stateDir) });
  const topics = corpusTopics(topology);
  const total = await countLines(corpus);
  const bar = progress('corpus', total);
  const t0 = Date.now();
  const produced = await produceCorpus(corpus, new EmbeddedWriter(runtime), topics, {
    corpusName: path.basename(corpus).replace(/\.jsonl$/, ''),
    onProgress: (n) => bar.update(n),
  });
  bar.stop();
  const stats = await runtime.runUntilIdle();
  const counts = await dumpTopics(runtime, path.join(outDir, 'topics'));
  const odvg = await writeOdvgEmbedded(config, runtime, stateDir, logger);
  const totals = providerTotals(runtime.resources); // close() releases the providers
  await runtime.close();
  const secs = (Date.now() - t0) / 1000;
  console.log(`corpus: ${produced.produced} events in, ${produced.deadLettered} bad lines dead-lettered`);
  for (const [node, s] of stats) console.log(`node ${node}: processed ${s.processed}, emitted ${s.emitted}, dead-lettered ${s.deadLettered}`);
  for (const [topic, n] of Object.entries(counts)) if (n) console.log(`topic ${topic}: ${n} records -> ${path.join(outDir, 'topics', topic + '.jsonl')}`);
  for (const t of totals) console.log(formatTotals(t));
  if (odvg)
    console.log(
      `odvg: ${odvg.written} records (${odvg.duplicates} duplicates, ${odvg.skipped} skipped, ${odvg.deadLettered} dead-lettered) in ${odvg.shards} new shard(s) -> ${path.join(config.sinks.odvg.dir, DATASET_FILE)}`,
    );
  console.log(`done in ${secs.toFixed(2)} s`);
}
