import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { AppConfig, loadConfig } from './config';
import { createLogger, Logger } from '../core/logger';
import { VERSION } from '../core/version';
import { lookupProcessor } from '../processors';
import { TOPOLOGIES } from '../topology/valor-topology';
import type { Topology } from '../topology/topology';
import { validateTopology } from '../topology/validate';
import { describeMermaid, describeText } from '../topology/describe';
import { EmbeddedRuntime } from '../runtime/embedded/embedded-runtime';
import { EmbeddedWriter } from '../runtime/embedded/embedded-writer';
import { dumpTopics } from '../runtime/embedded/topic-dump';
import { produceCorpus } from '../connectors/corpus/corpus-source';
import { countLines } from '../connectors/corpus/corpus-reader';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { createKafka } from '../runtime/kafka/kafka-client';
import { ensureTopics } from '../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../runtime/kafka/kafka-runtime';
import { ConfluentRegistry } from '../runtime/registry/confluent-registry';
import { SerdeSet } from '../runtime/serde/topic-serde';
import { topicByName } from '../topology/topology';
import { progress } from './progress';
import { writeTestDetector } from '../models/detector/test-model';
import { FileStoreProvider } from '../runtime/state/file-store';
import { sharedProviderTotals } from '../models/llm/shared-providers';
import type { ProviderTotals } from '../models/llm/resilient-provider';
import { evaluateVerifier, formatVerifierEval } from '../evaluation/verifier-eval';
import { startDemoProvider } from './demo-provider';
import { formatRewardDemo, runRewardDemo } from './demo-rewards';
import { registerConsumeCommand } from './consume';
import { LocalFileStorage } from '../connectors/sinks/shard-storage';
import { FileLabelRegistry, KafkaLabelRegistry } from '../connectors/sinks/label-registry';
import { DATASET_FILE, OdvgFormat } from '../connectors/sinks/odvg-format';
import { RewardFormat } from '../connectors/sinks/reward-format';
import { runEmbeddedSink } from '../connectors/sinks/embedded-sink';
import { KafkaSinkRunner } from '../connectors/sinks/kafka-sink-runner';
import { EmbeddedRewardExchange, judgeBreakerDown } from '../connectors/reward-endpoint/embedded-reward-exchange';
import { KafkaRewardExchange } from '../connectors/reward-endpoint/kafka-reward-exchange';
import { RewardExchange, rewardTopics } from '../connectors/reward-endpoint/reward-exchange';
import { RewardServer } from '../connectors/reward-endpoint/reward-server';
import { rewardGroupConfig } from '../processors/reward-group';
import type { Kafka } from 'kafkajs';
import type { RecordTypeName } from '../schemas/catalog';
import type { SinkFormat } from '../connectors/sinks/partition-sink';
import type { ShardStorage } from '../connectors/sinks/shard-storage';
import type { ShardRotation } from '../connectors/sinks/shard-writer';

function formatTotals(t: ProviderTotals): string {
  return `provider ${t.provider}/${t.model}: ${t.calls} calls (${t.failures} failed, ${t.retries} retries, ${t.rateLimitWaits} rate-limit waits, ${t.breakerOpens} breaker opens), tokens in/out ${t.inputTokens}/${t.outputTokens}, $${t.costUsd.toFixed(4)}`;
}

interface CommonOpts {
  config?: string;
  topology?: string;
  partitions?: string;
}

function configFrom(opts: CommonOpts & { delivery?: string; groupPrefix?: string; runtime?: string }, extra: Array<[string[], unknown]> = []): AppConfig {
  return loadConfig({
    file: opts.config,
    overrides: [
      [['topology'], opts.topology],
      [['partitions'], opts.partitions ? Number(opts.partitions) : undefined],
      [['runtime'], opts.runtime],
      [['delivery', 'delivery'], opts.delivery],
      [['delivery', 'groupPrefix'], opts.groupPrefix],
      ...extra,
    ],
  });
}

function topologyFrom(config: AppConfig): Topology {
  return TOPOLOGIES[config.topology]!({ topics: config.topics, partitions: config.partitions, nodeConfig: config.nodes });
}

function registryFrom(config: AppConfig): ConfluentRegistry {
  const { url, username, password } = config.registry;
  return new ConfluentRegistry(url, username && password ? { username, password } : undefined);
}

/** The topics a corpus is fed into: the topology's ImageQuery source and its dead letters. */
function corpusTopics(topology: Topology): { imageQueries: string; deadLetters: string } {
  const source = topology.topics.find((t) => t.source && t.type === 'ImageQuery');
  if (!source) throw new Error(`topology '${topology.name}' has no ImageQuery source topic to feed the corpus into`);
  return { imageQueries: source.name, deadLetters: topology.deadLetterTopic };
}

/** The embedded run's pseudo-labels as ODVG shards (same sink code as on Kafka). */
async function writeOdvgEmbedded(config: AppConfig, runtime: EmbeddedRuntime, stateDir: string, logger: Logger) {
  const topic = runtime.topology.topics.find((t) => t.type === 'PseudoLabel')?.name;
  if (!topic || !runtime.topology.nodes.some((n) => Object.values(n.outputs).includes(topic))) return null;
  const c = config.sinks.odvg;
  const storage = new LocalFileStorage(c.dir);
  const labels = await FileLabelRegistry.open(path.join(stateDir, 'labels.log'));
  const format = new OdvgFormat({ storage, rootPath: path.resolve(c.dir), shardDir: 'shards', labels, images: c.images, mode: c.mode, keepNegativeOnly: c.keepNegativeOnly, logger });
  const r = await runEmbeddedSink({ runtime, topic, storage, shardDir: 'shards', format, rotation: c.rotation, logger });
  await format.onShardsClosed();
  await labels.close();
  return r;
}

/**
 * Runs `shutdown` once on SIGTERM/SIGINT (or when the returned function is called), then
 * exits 0: the runtimes and sinks commit or publish what they hold before the process goes.
 */
function stopOnSignals(logger: Logger, what: string, shutdown: () => Promise<void>): (reason: string) => Promise<void> {
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, what);
    await shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return stop;
}

/** Runs a sink until SIGTERM/SIGINT (or, with stopAtEnd, the topic's current end), then publishes its open shards and exits. */
async function runSinkUntilSignal(runner: KafkaSinkRunner<any>, logger: Logger, stopAtEnd = false): Promise<void> {
  const stop = stopOnSignals(logger, 'publishing open shards before exit', () => runner.stop());
  const end = stopAtEnd ? runner.untilEnd() : null;
  await runner.start();
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
  opts: CommonOpts & { group?: string; stopAtEnd?: boolean },
  name: string,
  build: (config: AppConfig, kafka: Kafka, logger: Logger) => Promise<{ type: RecordTypeName; storage: ShardStorage; shardDir: string; format: SinkFormat<any>; rotation: ShardRotation }>,
): Promise<void> {
  const config = configFrom(opts);
  const topology = topologyFrom(config);
  const logger = createLogger('valor-stream');
  const kafka = createKafka(config.kafka, logger);
  await ensureTopics(kafka, topology);
  const s = await build(config, kafka, logger);
  const topic = topology.topics.find((t) => t.type === s.type);
  if (!topic) throw new Error(`topology '${topology.name}' has no ${s.type} topic for the ${name} sink`);
  const runner = new KafkaSinkRunner({
    kafka, serdes: new SerdeSet(registryFrom(config), (t) => topicByName(topology, t).type), topic: topic.name, deadLetterTopic: topology.deadLetterTopic,
    groupId: opts.group ?? `${config.delivery.groupPrefix}.sink.${name}`, storage: s.storage, shardDir: s.shardDir, format: s.format, rotation: s.rotation, logger,
    sessionTimeoutMs: config.delivery.sessionTimeoutMs, heartbeatIntervalMs: config.delivery.heartbeatIntervalMs,
  });
  await runSinkUntilSignal(runner, logger, Boolean(opts.stopAtEnd));
}

/** Runs a corpus through the topology in this process and writes every topic to files. */
async function runEmbedded(config: AppConfig, corpus: string, outDir: string, stateDir = config.stores.dir): Promise<void> {
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
  await runtime.close();
  const secs = (Date.now() - t0) / 1000;
  console.log(`corpus: ${produced.produced} events in, ${produced.deadLettered} bad lines dead-lettered`);
  for (const [node, s] of stats) console.log(`node ${node}: processed ${s.processed}, emitted ${s.emitted}, dead-lettered ${s.deadLettered}`);
  for (const [topic, n] of Object.entries(counts)) if (n) console.log(`topic ${topic}: ${n} records -> ${path.join(outDir, 'topics', topic + '.jsonl')}`);
  for (const t of sharedProviderTotals()) console.log(formatTotals(t));
  if (odvg) console.log(`odvg: ${odvg.written} records (${odvg.duplicates} duplicates, ${odvg.skipped} skipped, ${odvg.deadLettered} dead-lettered) in ${odvg.shards} new shard(s) -> ${path.join(config.sinks.odvg.dir, DATASET_FILE)}`);
  console.log(`done in ${secs.toFixed(2)} s`);
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('valor-stream')
    .version(VERSION)
    .description('Mine grounding pseudo-labels and GRPO rewards from image-query streams with multimodal verifiers.');

  const withCommon = (c: Command) =>
    c
      .option('-c, --config <file>', 'JSON config file (see README: Configuration)')
      .option('--topology <name>', `topology: ${Object.keys(TOPOLOGIES).join(' | ')}`)
      .option('--partitions <n>', 'partitions per topic when topics are created');

  const topo = program.command('topology').description('inspect the topology without running it');
  withCommon(topo.command('describe'))
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'mermaid']).default('text'))
    .action((opts) => {
      const config = configFrom(opts);
      const t = topologyFrom(config);
      validateTopology(t, lookupProcessor);
      process.stdout.write(opts.format === 'mermaid' ? describeMermaid(t) : describeText(t, lookupProcessor));
    });
  withCommon(topo.command('validate')).action((opts) => {
    const t = topologyFrom(configFrom(opts));
    validateTopology(t, lookupProcessor);
    console.log(`topology ${t.name}: ${t.nodes.length} node(s), ${t.topics.length} topic(s): valid`);
  });

  program
    .command('corpus')
    .description('corpus tools')
    .command('generate')
    .description('write a synthetic corpus (rendered shapes, spatial questions, known boxes)')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('-n, --count <n>', 'number of images', '100')
    .option('--seed <n>', 'random seed (same seed, same files)', '1')
    .action(async (opts) => {
      const count = Number(opts.count);
      const bar = progress('images', count);
      const r = await generateSyntheticCorpus({ outDir: opts.out, count, seed: Number(opts.seed), onProgress: (d) => bar.update(d) });
      bar.stop();
      console.log(`wrote ${r.count} events: ${r.corpusFile} (ground truth: ${r.groundTruthFile})`);
    });

  withCommon(program.command('produce'))
    .description('produce image-query events from a JSONL corpus file or directory to Kafka')
    .requiredOption('--corpus <path>', 'JSONL file or directory of *.jsonl')
    .option('--corpus-name <name>', 'corpus name stamped on every event')
    .action(async (opts) => {
      const config = configFrom(opts);
      const topology = topologyFrom(config);
      const logger = createLogger('valor-stream');
      const kafka = createKafka(config.kafka, logger);
      await ensureTopics(kafka, topology);
      const writer = new KafkaRecordWriter(kafka, new SerdeSet(registryFrom(config), (t) => topicByName(topology, t).type));
      const topics = corpusTopics(topology);
      const bar = progress('produce', await countLines(opts.corpus));
      try {
        const r = await produceCorpus(opts.corpus, writer, topics, {
          corpusName: opts.corpusName ?? path.basename(opts.corpus).replace(/\.jsonl$/, ''),
          onProgress: (n) => bar.update(n),
        });
        bar.stop();
        console.log(`produced ${r.produced} events to ${topics.imageQueries}; ${r.deadLettered} bad lines to ${topics.deadLetters}`);
      } finally {
        await writer.close();
      }
    });

  withCommon(program.command('run'))
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
        only: opts.only ? String(opts.only).split(',').map((s: string) => s.trim()) : undefined,
        storeTopicPrefix: config.stores.topicPrefix,
      });
      stopOnSignals(logger, 'draining and committing before exit', () => runtime.stop());
      await runtime.start();
      setInterval(() => {
        for (const r of runtime.runners) logger.info({ node: r.worker.node.name, ...r.stats }, 'progress');
        for (const t of sharedProviderTotals()) logger.info({ ...t }, 'provider totals');
      }, 10_000).unref();
    });

  const sink = program.command('sink').description('exactly-once file sinks on Kafka (resume from the files, not the group offsets)');
  withCommon(sink.command('odvg'))
    .description('pseudo-labels -> ODVG shards for Open-GroundingDino (images, label_map.json, labels.txt, dataset.json)')
    .option('--out <dir>', 'dataset root (default: sinks.odvg.dir)')
    .addOption(new Option('--mode <mode>', 'od: detection records; vg: grounding records').choices(['od', 'vg']))
    .addOption(new Option('--negatives <what>', 'images whose boxes were all rejected').choices(['keep', 'skip']))
    .option('--group <id>', 'consumer group (default <groupPrefix>.sink.odvg)')
    .option('--stop-at-end', 'write what the topic holds now, publish it and exit (one process)')
    .action(async (opts) => {
      await runKafkaSink(opts, 'odvg', async (config, kafka, logger) => {
        const c = { ...config.sinks.odvg, ...(opts.out ? { dir: opts.out } : {}), ...(opts.mode ? { mode: opts.mode } : {}), ...(opts.negatives ? { keepNegativeOnly: opts.negatives === 'keep' } : {}) };
        const storage = new LocalFileStorage(c.dir);
        const labels = await KafkaLabelRegistry.open(kafka, c.labelTopic, registryFrom(config));
        const format = new OdvgFormat({ storage, rootPath: path.resolve(c.dir), shardDir: 'shards', labels, images: c.images, mode: c.mode, keepNegativeOnly: c.keepNegativeOnly, logger });
        return { type: 'PseudoLabel', storage, shardDir: 'shards', format, rotation: c.rotation };
      });
    });
  withCommon(sink.command('rewards'))
    .description('reward records or complete reward groups -> JSONL shards')
    .option('--out <dir>', 'output directory (default: sinks.rewards.dir)')
    .addOption(new Option('--records <which>', 'which topic').choices(['records', 'groups']).default('groups'))
    .option('--group <id>', 'consumer group (default <groupPrefix>.sink.rewards-<which>)')
    .option('--stop-at-end', 'write what the topic holds now, publish it and exit (one process)')
    .action(async (opts) => {
      await runKafkaSink(opts, `rewards-${opts.records}`, async (config) => {
        const c = { ...config.sinks.rewards, ...(opts.out ? { dir: opts.out } : {}) };
        const type = opts.records === 'records' ? 'RewardRecord' : 'RewardGroup';
        return { type, storage: new LocalFileStorage(c.dir), shardDir: opts.records, format: new RewardFormat(), rotation: c.rotation };
      });
    });

  withCommon(program.command('serve-rewards'))
    .description('POST /get_reward for trainers (OpenRLHF remote reward model): rollouts in, their rewards and components out; groups a prompt\'s samples across requests')
    .option('--embedded', 'score in this process on the embedded log (no broker, no group records); otherwise on Kafka, scored by `run --only reward,reward-group`')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on', '8000')
    .option('--timeout-ms <ms>', 'how long a request waits for its reward records (then 504)', '120000')
    .option('--max-body-mb <n>', 'larger request bodies get 413', '32')
    .option('--group-size <n>', "the trainer's samples per prompt: smaller requests of a prompt are grouped across requests into groups of n; 1 groups per request (default: rewardEndpoint.groupSize, 8)")
    .option('--run-id <id>', 'group and rollout ids of groups across requests derive from it (default: rewardEndpoint.runId, else fresh per start)')
    .action(async (opts) => {
      const config = configFrom(opts, [
        [['rewardEndpoint', 'groupSize'], opts.groupSize === undefined ? undefined : Number(opts.groupSize)],
        [['rewardEndpoint', 'runId'], opts.runId],
      ]);
      const logger = createLogger('valor-stream');
      let exchange: RewardExchange;
      if (opts.embedded) {
        // One partition: the embedded runtime steps partitions one after another, so one
        // partition keeps a whole batch in work at once.
        const topology = TOPOLOGIES[config.topology]!({ topics: config.topics, partitions: 1, nodeConfig: config.nodes });
        const runtime = new EmbeddedRuntime(topology, { logger, only: ['reward'] });
        exchange = new EmbeddedRewardExchange(runtime, { logger, down: judgeBreakerDown(config.nodes.reward, logger) });
      } else {
        const topology = topologyFrom(config);
        const kafka = createKafka(config.kafka, logger);
        await ensureTopics(kafka, topology);
        const serdes = new SerdeSet(registryFrom(config), (t) => topicByName(topology, t).type);
        exchange = await KafkaRewardExchange.start({ kafka, serdes, topics: rewardTopics(topology), logger, rewardGroupId: `${config.delivery.groupPrefix}.reward` });
      }
      // A group open across requests takes members as long as the reward-group node waits for them.
      const groupNode = rewardGroupConfig.parse(config.nodes['reward-group'] ?? {});
      const { groupSize, runId } = config.rewardEndpoint;
      const grouping = { groupSize, runId, windowMs: groupNode.timeoutMs, rememberMs: Math.max(groupNode.retainMs, groupNode.timeoutMs) };
      const server = new RewardServer({ exchange, host: opts.host, port: Number(opts.port), timeoutMs: Number(opts.timeoutMs), maxBodyBytes: Number(opts.maxBodyMb) * 2 ** 20, logger, grouping });
      const url = await server.start();
      stopOnSignals(logger, 'closing the reward endpoint', async () => void (await Promise.all([server.close(), exchange.close()])));
      console.log(`reward endpoint: POST ${url}/get_reward (${opts.embedded ? 'embedded' : 'kafka'}); GET ${url}/healthz, ${url}/metrics`);
      console.log(
        groupSize > 1
          ? `groups: ${groupSize} samples per prompt across requests (--group-size; match the trainer's samples per prompt), run id ${server.grouper!.runId}`
          : 'groups: per request (--group-size 1)',
      );
      const down = exchange.down();
      if (down) logger.warn({ reason: down }, 'the endpoint answers 503 until this clears');
    });

  program
    .command('demo')
    .description('the main job on the embedded runtime: synthetic corpus -> topology -> files')
    .option('-n, --count <n>', 'synthetic images', '60')
    .option('--out <dir>', 'output directory', 'out/demo')
    .option('-c, --config <file>', 'JSON config file (e.g. a real verify provider)')
    .option('--provider-latency <ms>', 'latency of the demo\'s fake VLM server', '0')
    .option('--verifier-error-rate <p>', 'share of the fake VLM\'s keep/drop decisions it gets wrong', '0')
    .action(async (opts) => {
      const corpusDir = path.join(opts.out, 'corpus');
      const corpusFile = path.join(corpusDir, 'corpus.jsonl');
      if (!fs.existsSync(corpusFile)) {
        const bar = progress('synthetic images', Number(opts.count));
        await generateSyntheticCorpus({ outDir: corpusDir, count: Number(opts.count), seed: 1, onProgress: (d) => bar.update(d) });
        bar.stop();
      }
      // No real weights can be downloaded here: the demo runs the generated stand-in model,
      // which has GroundingDINO's exact inputs and outputs (see README: Detector models).
      const model = writeTestDetector(path.join(opts.out, 'models'));
      const config = configFrom({ config: opts.config, runtime: 'embedded' });
      config.nodes.detect = {
        modelPath: model.huggingface,
        tokenizerPath: model.tokenizerJson,
        images: { allowedRoots: [path.resolve(corpusDir)] },
        ...(config.nodes.detect as object | undefined),
      };
      // No hosted model either: a fake OpenAI server on 127.0.0.1 answers the verifier from
      // the corpus's ground truth, through the real openai SDK. A config file's verify node wins.
      const provider = config.nodes.verify ? null : await startDemoProvider(path.join(corpusDir, 'ground-truth.jsonl'), Number(opts.providerLatency), Number(opts.verifierErrorRate));
      try {
        const images = { allowedRoots: [path.resolve(corpusDir)] };
        config.nodes.verify = config.nodes.verify ?? { ...provider!.verifyConfig, images };
        // The same fake server plays the reward judges of loop 2.
        config.nodes.reward = config.nodes.reward ?? { judge: (provider?.verifyConfig ?? (config.nodes.verify as { provider: unknown })).provider };
        config.sinks.odvg = { ...config.sinks.odvg, dir: path.join(opts.out, 'odvg'), images: { ...config.sinks.odvg.images, ...images } };
        console.log('== the main job: corpus -> plan -> detect (stand-in model) -> verify');
        await runEmbedded(config, corpusFile, opts.out, path.join(opts.out, 'state'));
        console.log('\n== the verifier on simulated detector proposals (the stand-in detector finds nothing real)');
        const bar = progress('proposal sets', null);
        const r = await evaluateVerifier({
          groundTruthFile: path.join(corpusDir, 'ground-truth.jsonl'),
          verifyConfig: config.nodes.verify,
          stores: new FileStoreProvider(path.join(opts.out, 'state')),
          outDir: path.join(opts.out, 'verifier-eval'),
          logger: createLogger('valor-stream'),
          onProgress: (n) => bar.update(n),
        });
        bar.stop();
        console.log(formatVerifierEval(r));
        console.log(`(run the demo again: every verdict then comes from the cache in ${path.join(opts.out, 'state')} and costs no calls)`);
        console.log('\n== loop 2: groups of reasoning rollouts -> reward (sandbox + 4 judges) -> reward-group -> reward shards');
        console.log(formatRewardDemo(await runRewardDemo(topologyFrom(config), corpusFile, opts.out, createLogger('valor-stream'))));
      } finally {
        await provider?.close();
      }
    });

  withCommon(program.command('eval'))
    .description('measure the verify node (as configured) on a synthetic corpus: label precision/recall before and after')
    .requiredOption('--corpus-dir <dir>', 'a directory written by `corpus generate` (with ground-truth.jsonl)')
    .option('--out <dir>', 'where to dump the topics', 'out/eval')
    .option('--seed <n>', 'seed of the simulated proposals', '1')
    .action(async (opts) => {
      const config = configFrom(opts);
      const r = await evaluateVerifier({
        groundTruthFile: path.join(opts.corpusDir, 'ground-truth.jsonl'),
        verifyConfig: { images: { allowedRoots: [path.resolve(opts.corpusDir)] }, ...(config.nodes.verify as object | undefined) },
        stores: new FileStoreProvider(config.stores.dir),
        outDir: opts.out,
        seed: Number(opts.seed),
        logger: createLogger('valor-stream'),
      });
      console.log(formatVerifierEval(r));
    });

  program
    .command('models')
    .description('model tools')
    .command('test-detector')
    .description('write the tiny GroundingDINO stand-in (both ONNX layouts) and its tokenizer')
    .requiredOption('-o, --out <dir>', 'output directory')
    .action((opts) => {
      const r = writeTestDetector(opts.out);
      for (const [k, v] of Object.entries(r)) console.log(`${k}: ${v}`);
    });

  registerConsumeCommand(program, { configFrom, registryFrom });

  await program.parseAsync(argv);
}
