"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", { value: true });
exports.main = main;
const fs = __importStar(require("node:fs"));
const path = __importStar(require("node:path"));
const commander_1 = require("commander");
const config_1 = require("../core/config");
const logger_1 = require("../core/logger");
const version_1 = require("../core/version");
const processors_1 = require("../processors");
const valor_topology_1 = require("../topology/valor-topology");
const validate_1 = require("../topology/validate");
const describe_1 = require("../topology/describe");
const embedded_runtime_1 = require("../connectors/embedded/embedded-runtime");
const embedded_writer_1 = require("../connectors/embedded/embedded-writer");
const topic_dump_1 = require("../connectors/embedded/topic-dump");
const corpus_source_1 = require("../connectors/corpus/corpus-source");
const corpus_reader_1 = require("../connectors/corpus/corpus-reader");
const synthetic_corpus_1 = require("../connectors/corpus/synthetic-corpus");
const kafka_client_1 = require("../connectors/kafka/kafka-client");
const kafka_admin_1 = require("../connectors/kafka/kafka-admin");
const kafka_record_writer_1 = require("../connectors/kafka/kafka-record-writer");
const kafka_runtime_1 = require("../connectors/kafka/kafka-runtime");
const confluent_registry_1 = require("../connectors/registry/confluent-registry");
const topic_serde_1 = require("../connectors/serde/topic-serde");
const topology_1 = require("../topology/topology");
const progress_1 = require("./progress");
const test_model_1 = require("../models/detector/test-model");
const file_store_1 = require("../connectors/state/file-store");
const shared_providers_1 = require("../models/llm/shared-providers");
const verifier_eval_1 = require("./verifier-eval");
const demo_provider_1 = require("./demo-provider");
const shard_storage_1 = require("../connectors/sinks/shard-storage");
const label_registry_1 = require("../connectors/sinks/label-registry");
const odvg_format_1 = require("../connectors/sinks/odvg-format");
const reward_format_1 = require("../connectors/sinks/reward-format");
const embedded_sink_1 = require("../connectors/sinks/embedded-sink");
const kafka_sink_runner_1 = require("../connectors/sinks/kafka-sink-runner");
function formatTotals(t) {
    return `provider ${t.provider}/${t.model}: ${t.calls} calls (${t.failures} failed, ${t.retries} retries, ${t.rateLimitWaits} rate-limit waits, ${t.breakerOpens} breaker opens), tokens in/out ${t.inputTokens}/${t.outputTokens}, $${t.costUsd.toFixed(4)}`;
}
function configFrom(opts) {
    return (0, config_1.loadConfig)({
        file: opts.config,
        overrides: [
            [['topology'], opts.topology],
            [['partitions'], opts.partitions ? Number(opts.partitions) : undefined],
            [['runtime'], opts.runtime],
            [['delivery', 'delivery'], opts.delivery],
            [['delivery', 'groupPrefix'], opts.groupPrefix],
        ],
    });
}
function topologyFrom(config) {
    return valor_topology_1.TOPOLOGIES[config.topology]({ topics: config.topics, partitions: config.partitions, nodeConfig: config.nodes });
}
function registryFrom(config) {
    const { url, username, password } = config.registry;
    return new confluent_registry_1.ConfluentRegistry(url, username && password ? { username, password } : undefined);
}
/** The topics a corpus is fed into: the topology's ImageQuery source and its dead letters. */
function corpusTopics(topology) {
    const source = topology.topics.find((t) => t.source && t.type === 'ImageQuery');
    if (!source)
        throw new Error(`topology '${topology.name}' has no ImageQuery source topic to feed the corpus into`);
    return { imageQueries: source.name, deadLetters: topology.deadLetterTopic };
}
/** The embedded run's pseudo-labels as ODVG shards (same sink code as on Kafka). */
async function writeOdvgEmbedded(config, runtime, stateDir, logger) {
    const topic = runtime.topology.topics.find((t) => t.type === 'PseudoLabel')?.name;
    if (!topic || !runtime.topology.nodes.some((n) => Object.values(n.outputs).includes(topic)))
        return null;
    const c = config.sinks.odvg;
    const storage = new shard_storage_1.LocalFileStorage(c.dir);
    const labels = await label_registry_1.FileLabelRegistry.open(path.join(stateDir, 'labels.log'));
    const format = new odvg_format_1.OdvgFormat({ storage, rootPath: path.resolve(c.dir), shardDir: 'shards', labels, images: c.images, mode: c.mode, keepNegativeOnly: c.keepNegativeOnly });
    const r = await (0, embedded_sink_1.runEmbeddedSink)({ runtime, topic, storage, shardDir: 'shards', format, rotation: c.rotation, logger });
    await format.onShardsClosed();
    await labels.close();
    return r;
}
/** Runs a sink until SIGTERM/SIGINT, then publishes its open shards and exits. */
async function runSinkUntilSignal(runner, logger) {
    let stopping = false;
    const stop = async (signal) => {
        if (stopping)
            return;
        stopping = true;
        logger.info({ signal }, 'publishing open shards before exit');
        await runner.stop();
        process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    await runner.start();
    setInterval(() => void runner.totals().then((t) => logger.info({ ...t }, 'sink progress')), 10_000).unref();
}
/** Runs a corpus through the topology in this process and writes every topic to files. */
async function runEmbedded(config, corpus, outDir, stateDir = config.stores.dir) {
    const topology = topologyFrom(config);
    const logger = (0, logger_1.createLogger)('valor-stream');
    const runtime = new embedded_runtime_1.EmbeddedRuntime(topology, { logger, stores: new file_store_1.FileStoreProvider(stateDir) });
    const topics = corpusTopics(topology);
    const total = await (0, corpus_reader_1.countLines)(corpus);
    const bar = (0, progress_1.progress)('corpus', total);
    const t0 = Date.now();
    const produced = await (0, corpus_source_1.produceCorpus)(corpus, new embedded_writer_1.EmbeddedWriter(runtime), topics, {
        corpusName: path.basename(corpus).replace(/\.jsonl$/, ''),
        onProgress: (n) => bar.update(n),
    });
    bar.stop();
    const stats = await runtime.runUntilIdle();
    const counts = await (0, topic_dump_1.dumpTopics)(runtime, path.join(outDir, 'topics'));
    const odvg = await writeOdvgEmbedded(config, runtime, stateDir, logger);
    await runtime.close();
    const secs = (Date.now() - t0) / 1000;
    console.log(`corpus: ${produced.produced} events in, ${produced.deadLettered} bad lines dead-lettered`);
    for (const [node, s] of stats)
        console.log(`node ${node}: processed ${s.processed}, emitted ${s.emitted}, dead-lettered ${s.deadLettered}`);
    for (const [topic, n] of Object.entries(counts))
        if (n)
            console.log(`topic ${topic}: ${n} records -> ${path.join(outDir, 'topics', topic + '.jsonl')}`);
    for (const t of (0, shared_providers_1.sharedProviderTotals)())
        console.log(formatTotals(t));
    if (odvg)
        console.log(`odvg: ${odvg.written} records (${odvg.duplicates} duplicates, ${odvg.skipped} skipped, ${odvg.deadLettered} dead-lettered) in ${odvg.shards} new shard(s) -> ${path.join(config.sinks.odvg.dir, odvg_format_1.DATASET_FILE)}`);
    console.log(`done in ${secs.toFixed(2)} s`);
}
async function main(argv) {
    const program = new commander_1.Command('valor-stream')
        .version(version_1.VERSION)
        .description('Mine grounding pseudo-labels and GRPO rewards from image-query streams with multimodal verifiers.');
    const withCommon = (c) => c
        .option('-c, --config <file>', 'JSON config file (see README: Configuration)')
        .option('--topology <name>', `topology: ${Object.keys(valor_topology_1.TOPOLOGIES).join(' | ')}`)
        .option('--partitions <n>', 'partitions per topic when topics are created');
    const topo = program.command('topology').description('inspect the topology without running it');
    withCommon(topo.command('describe'))
        .addOption(new commander_1.Option('-f, --format <format>', 'output format').choices(['text', 'mermaid']).default('text'))
        .action((opts) => {
        const config = configFrom(opts);
        const t = topologyFrom(config);
        (0, validate_1.validateTopology)(t, processors_1.lookupProcessor);
        process.stdout.write(opts.format === 'mermaid' ? (0, describe_1.describeMermaid)(t) : (0, describe_1.describeText)(t, processors_1.lookupProcessor));
    });
    withCommon(topo.command('validate')).action((opts) => {
        const t = topologyFrom(configFrom(opts));
        (0, validate_1.validateTopology)(t, processors_1.lookupProcessor);
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
        const bar = (0, progress_1.progress)('images', count);
        const r = await (0, synthetic_corpus_1.generateSyntheticCorpus)({ outDir: opts.out, count, seed: Number(opts.seed), onProgress: (d) => bar.update(d) });
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
        const logger = (0, logger_1.createLogger)('valor-stream');
        const kafka = (0, kafka_client_1.createKafka)(config.kafka, logger);
        await (0, kafka_admin_1.ensureTopics)(kafka, topology);
        const writer = new kafka_record_writer_1.KafkaRecordWriter(kafka, new topic_serde_1.SerdeSet(registryFrom(config), (t) => (0, topology_1.topicByName)(topology, t).type));
        const topics = corpusTopics(topology);
        const bar = (0, progress_1.progress)('produce', await (0, corpus_reader_1.countLines)(opts.corpus));
        try {
            const r = await (0, corpus_source_1.produceCorpus)(opts.corpus, writer, topics, {
                corpusName: opts.corpusName ?? path.basename(opts.corpus).replace(/\.jsonl$/, ''),
                onProgress: (n) => bar.update(n),
            });
            bar.stop();
            console.log(`produced ${r.produced} events to ${topics.imageQueries}; ${r.deadLettered} bad lines to ${topics.deadLetters}`);
        }
        finally {
            await writer.close();
        }
    });
    withCommon(program.command('run'))
        .description('run the topology (all nodes, or --only some) on the embedded log or on Kafka')
        .addOption(new commander_1.Option('--runtime <runtime>', 'where to run').choices(['embedded', 'kafka']))
        .option('--only <nodes>', 'comma-separated node names to run in this process (kafka)')
        .addOption(new commander_1.Option('--delivery <mode>', 'kafka delivery guarantee').choices(['exactly-once', 'at-least-once']))
        .option('--group-prefix <prefix>', 'consumer group prefix; a new prefix replays retained topics')
        .option('--corpus <path>', 'embedded: corpus to feed in')
        .option('--out <dir>', 'embedded: output directory')
        .action(async (opts) => {
        const config = configFrom(opts);
        if (config.runtime === 'embedded') {
            if (!opts.corpus)
                throw new Error('the embedded runtime needs --corpus <path> (or use `make demo`)');
            await runEmbedded(config, opts.corpus, opts.out ?? config.outputDir);
            return;
        }
        const logger = (0, logger_1.createLogger)('valor-stream');
        const topology = topologyFrom(config);
        const runtime = new kafka_runtime_1.KafkaRuntime(topology, {
            kafka: (0, kafka_client_1.createKafka)(config.kafka, logger),
            registry: registryFrom(config),
            config: config.delivery,
            logger,
            only: opts.only ? String(opts.only).split(',').map((s) => s.trim()) : undefined,
            storeTopicPrefix: config.stores.topicPrefix,
        });
        let stopping = false;
        const stop = async (signal) => {
            if (stopping)
                return;
            stopping = true;
            logger.info({ signal }, 'draining and committing before exit');
            await runtime.stop();
            process.exit(0);
        };
        process.on('SIGTERM', () => void stop('SIGTERM'));
        process.on('SIGINT', () => void stop('SIGINT'));
        await runtime.start();
        setInterval(() => {
            for (const r of runtime.runners)
                logger.info({ node: r.worker.node.name, ...r.stats }, 'progress');
            for (const t of (0, shared_providers_1.sharedProviderTotals)())
                logger.info({ ...t }, 'provider totals');
        }, 10_000).unref();
    });
    const sink = program.command('sink').description('exactly-once file sinks on Kafka (resume from the files, not the group offsets)');
    withCommon(sink.command('odvg'))
        .description('pseudo-labels -> ODVG shards for Open-GroundingDino (images, label_map.json, labels.txt, dataset.json)')
        .option('--out <dir>', 'dataset root (default: sinks.odvg.dir)')
        .addOption(new commander_1.Option('--mode <mode>', 'od: detection records; vg: grounding records').choices(['od', 'vg']))
        .addOption(new commander_1.Option('--negatives <what>', 'images whose boxes were all rejected').choices(['keep', 'skip']))
        .option('--group <id>', 'consumer group (default <groupPrefix>.sink.odvg)')
        .action(async (opts) => {
        const config = configFrom(opts);
        const c = { ...config.sinks.odvg, ...(opts.out ? { dir: opts.out } : {}), ...(opts.mode ? { mode: opts.mode } : {}), ...(opts.negatives ? { keepNegativeOnly: opts.negatives === 'keep' } : {}) };
        const topology = topologyFrom(config);
        const logger = (0, logger_1.createLogger)('valor-stream');
        const kafka = (0, kafka_client_1.createKafka)(config.kafka, logger);
        await (0, kafka_admin_1.ensureTopics)(kafka, topology);
        const storage = new shard_storage_1.LocalFileStorage(c.dir);
        const labels = await label_registry_1.KafkaLabelRegistry.open(kafka, c.labelTopic);
        const format = new odvg_format_1.OdvgFormat({ storage, rootPath: path.resolve(c.dir), shardDir: 'shards', labels, images: c.images, mode: c.mode, keepNegativeOnly: c.keepNegativeOnly });
        const runner = new kafka_sink_runner_1.KafkaSinkRunner({
            kafka, serdes: new topic_serde_1.SerdeSet(registryFrom(config), (t) => (0, topology_1.topicByName)(topology, t).type), topic: topology.topics.find((t) => t.type === 'PseudoLabel').name,
            deadLetterTopic: topology.deadLetterTopic, groupId: opts.group ?? `${config.delivery.groupPrefix}.sink.odvg`, storage, shardDir: 'shards', format, rotation: c.rotation, logger,
            sessionTimeoutMs: config.delivery.sessionTimeoutMs, heartbeatIntervalMs: config.delivery.heartbeatIntervalMs,
        });
        await runSinkUntilSignal(runner, logger);
    });
    withCommon(sink.command('rewards'))
        .description('reward records or complete reward groups -> JSONL shards')
        .option('--out <dir>', 'output directory (default: sinks.rewards.dir)')
        .addOption(new commander_1.Option('--records <which>', 'which topic').choices(['records', 'groups']).default('groups'))
        .option('--group <id>', 'consumer group (default <groupPrefix>.sink.rewards-<which>)')
        .action(async (opts) => {
        const config = configFrom(opts);
        const c = { ...config.sinks.rewards, ...(opts.out ? { dir: opts.out } : {}) };
        const topology = topologyFrom(config);
        const logger = (0, logger_1.createLogger)('valor-stream');
        const kafka = (0, kafka_client_1.createKafka)(config.kafka, logger);
        await (0, kafka_admin_1.ensureTopics)(kafka, topology);
        const topic = topology.topics.find((t) => t.type === (opts.records === 'records' ? 'RewardRecord' : 'RewardGroup')).name;
        const runner = new kafka_sink_runner_1.KafkaSinkRunner({
            kafka, serdes: new topic_serde_1.SerdeSet(registryFrom(config), (t) => (0, topology_1.topicByName)(topology, t).type), topic, deadLetterTopic: topology.deadLetterTopic,
            groupId: opts.group ?? `${config.delivery.groupPrefix}.sink.rewards-${opts.records}`, storage: new shard_storage_1.LocalFileStorage(c.dir), shardDir: opts.records,
            format: new reward_format_1.RewardFormat(), rotation: c.rotation, logger,
            sessionTimeoutMs: config.delivery.sessionTimeoutMs, heartbeatIntervalMs: config.delivery.heartbeatIntervalMs,
        });
        await runSinkUntilSignal(runner, logger);
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
            const bar = (0, progress_1.progress)('synthetic images', Number(opts.count));
            await (0, synthetic_corpus_1.generateSyntheticCorpus)({ outDir: corpusDir, count: Number(opts.count), seed: 1, onProgress: (d) => bar.update(d) });
            bar.stop();
        }
        // No real weights can be downloaded here: the demo runs the generated stand-in model,
        // which has GroundingDINO's exact inputs and outputs (see README: Detector models).
        const model = (0, test_model_1.writeTestDetector)(path.join(opts.out, 'models'));
        const config = configFrom({ config: opts.config, runtime: 'embedded' });
        config.nodes.detect = {
            modelPath: model.huggingface,
            tokenizerPath: model.tokenizerJson,
            images: { allowedRoots: [path.resolve(corpusDir)] },
            ...config.nodes.detect,
        };
        // No hosted model either: a fake OpenAI server on 127.0.0.1 answers the verifier from
        // the corpus's ground truth, through the real openai SDK. A config file's verify node wins.
        const provider = config.nodes.verify ? null : await (0, demo_provider_1.startDemoProvider)(path.join(corpusDir, 'ground-truth.jsonl'), Number(opts.providerLatency), Number(opts.verifierErrorRate));
        try {
            const images = { allowedRoots: [path.resolve(corpusDir)] };
            config.nodes.verify = config.nodes.verify ?? { ...provider.verifyConfig, images };
            config.sinks.odvg = { ...config.sinks.odvg, dir: path.join(opts.out, 'odvg'), images: { ...config.sinks.odvg.images, ...images } };
            console.log('== the main job: corpus -> plan -> detect (stand-in model) -> verify');
            await runEmbedded(config, corpusFile, opts.out, path.join(opts.out, 'state'));
            console.log('\n== the verifier on simulated detector proposals (the stand-in detector finds nothing real)');
            const bar = (0, progress_1.progress)('proposal sets', null);
            const r = await (0, verifier_eval_1.evaluateVerifier)({
                groundTruthFile: path.join(corpusDir, 'ground-truth.jsonl'),
                verifyConfig: config.nodes.verify,
                stores: new file_store_1.FileStoreProvider(path.join(opts.out, 'state')),
                outDir: path.join(opts.out, 'verifier-eval'),
                logger: (0, logger_1.createLogger)('valor-stream'),
                onProgress: (n) => bar.update(n),
            });
            bar.stop();
            console.log((0, verifier_eval_1.formatVerifierEval)(r));
            console.log(`(run the demo again: every verdict then comes from the cache in ${path.join(opts.out, 'state')} and costs no calls)`);
        }
        finally {
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
        const r = await (0, verifier_eval_1.evaluateVerifier)({
            groundTruthFile: path.join(opts.corpusDir, 'ground-truth.jsonl'),
            verifyConfig: { images: { allowedRoots: [path.resolve(opts.corpusDir)] }, ...config.nodes.verify },
            stores: new file_store_1.FileStoreProvider(config.stores.dir),
            outDir: opts.out,
            seed: Number(opts.seed),
            logger: (0, logger_1.createLogger)('valor-stream'),
        });
        console.log((0, verifier_eval_1.formatVerifierEval)(r));
    });
    program
        .command('models')
        .description('model tools')
        .command('test-detector')
        .description('write the tiny GroundingDINO stand-in (both ONNX layouts) and its tokenizer')
        .requiredOption('-o, --out <dir>', 'output directory')
        .action((opts) => {
        const r = (0, test_model_1.writeTestDetector)(opts.out);
        for (const [k, v] of Object.entries(r))
            console.log(`${k}: ${v}`);
    });
    await program.parseAsync(argv);
}
//# sourceMappingURL=main.js.map