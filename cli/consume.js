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
exports.CONSUME_TYPES = void 0;
exports.registerConsumeCommand = registerConsumeCommand;
exports.typeOfTopic = typeOfTopic;
exports.formatBatchLine = formatBatchLine;
exports.pipeBatches = pipeBatches;
// `valor-stream consume`: training batches as JSON lines on stdout, acked once written, so
// `valor-stream consume … | python train.py` gets backpressure through the pipe.
const readline = __importStar(require("node:readline"));
const commander_1 = require("commander");
const config_1 = require("../core/config");
const errors_1 = require("../core/errors");
const logger_1 = require("../core/logger");
const kafka_client_1 = require("../connectors/kafka/kafka-client");
const training_consumer_1 = require("../connectors/online/training-consumer");
const confluent_registry_1 = require("../connectors/registry/confluent-registry");
const topics_1 = require("../topology/topics");
exports.CONSUME_TYPES = ['PseudoLabel', 'RewardGroup'];
/** Adds `consume` to the program. */
function registerConsumeCommand(program, deps = {}) {
    return program
        .command('consume')
        .description('print training batches from a topic as JSON lines; each batch is committed once its line is written')
        .option('-c, --config <file>', 'JSON config file (see README: Configuration)')
        .requiredOption('--topic <name>', 'topic to read, e.g. valor.pseudo-labels or valor.reward-groups')
        .addOption(new commander_1.Option('--type <type>', 'record type (default: from the topic name)').choices([...exports.CONSUME_TYPES]))
        .option('--group <id>', 'consumer group (default: <groupPrefix>.consume.<topic>); the same group resumes where it was acked')
        .option('--batch-size <n>', 'records per batch', '32')
        .option('--max-batches <n>', 'stop after this many batches')
        .option('--max-wait-ms <ms>', 'print a smaller batch after this long without a full one', '1000')
        .option('--from-beginning', 'a new group starts at the earliest record (default: only records produced from now on)')
        .option('--skip-negative-only', 'PseudoLabel: skip records with no accepted box')
        .option('--ack-stdin', 'commit a batch only when its number comes back as a line on stdin (a trainer that crashes mid-step then loses nothing)')
        .action(async (opts) => {
        await runConsume(opts, deps);
    });
}
async function runConsume(opts, deps) {
    const config = (deps.configFrom ?? ((o) => (0, config_1.loadConfig)({ file: o.config })))({ config: opts.config });
    const logger = deps.logger ?? (0, logger_1.createLogger)('valor-stream');
    const type = typeOfTopic(opts.topic, opts.type, config);
    const batchSize = positiveInt('--batch-size', opts.batchSize);
    const maxWaitMs = positiveInt('--max-wait-ms', opts.maxWaitMs, 0);
    const maxBatches = opts.maxBatches === undefined ? undefined : positiveInt('--max-batches', opts.maxBatches);
    if (opts.skipNegativeOnly && type !== 'PseudoLabel')
        throw new errors_1.ConfigError(`--skip-negative-only applies to PseudoLabel records, not ${type}`);
    const options = {
        kafka: (deps.kafkaFrom ?? ((c, l) => (0, kafka_client_1.createKafka)(c.kafka, l)))(config, logger),
        registry: (deps.registryFrom ?? defaultRegistry)(config),
        type,
        topic: opts.topic,
        groupId: opts.group ?? `${config.delivery.groupPrefix}.consume.${opts.topic}`,
        batchSize,
        maxWaitMs,
        maxUnacked: 1, // one line in flight: the pipe, not our memory, holds the backlog
        fromBeginning: Boolean(opts.fromBeginning),
        sessionTimeoutMs: config.delivery.sessionTimeoutMs,
        heartbeatIntervalMs: config.delivery.heartbeatIntervalMs,
        filter: opts.skipNegativeOnly ? (v) => v.accepted.length > 0 : undefined,
        logger,
    };
    const consumer = (deps.consumerFrom ?? ((o) => new training_consumer_1.TrainingConsumer(o)))(options);
    const onSignal = (signal) => {
        logger.info({ signal }, 'stopping: the batch not yet acked will be redelivered');
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
        const r = await pipeBatches(consumer.batches(), stdout, { maxBatches, acks });
        const s = consumer.stats;
        logger.info({ topic: opts.topic, group: options.groupId, ...r, filtered: s?.filtered, undecodable: s?.undecodable }, `consumed ${r.batches} batches (${r.records} records)`);
    }
    catch (err) {
        if (!readerGone(err))
            throw err;
        logger.warn({ error: (0, errors_1.errorMessage)(err) }, 'the reader went away; the batch in flight was not acked and will be redelivered');
    }
    finally {
        ackLines?.close(); // an open stdin would keep the process alive
        await consumer.close();
        if (deps.handleSignals !== false) {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
        }
    }
}
function defaultRegistry(config) {
    const { url, username, password } = config.registry;
    return new confluent_registry_1.ConfluentRegistry(url, username && password ? { username, password } : undefined);
}
/** The record type of a topic: as given, else by the configured name of the topic. */
function typeOfTopic(topic, given, config) {
    if (given)
        return given;
    const names = (0, topics_1.resolveTopicNames)(config.topics);
    if (topic === names.pseudoLabels)
        return 'PseudoLabel';
    if (topic === names.rewardGroups)
        return 'RewardGroup';
    throw new errors_1.ConfigError(`cannot tell the record type of topic '${topic}': pass --type ${exports.CONSUME_TYPES.join(' or --type ')}`);
}
function positiveInt(flag, raw, min = 1) {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min) {
        throw new errors_1.ConfigError(`${flag} must be an integer >= ${min}, got '${raw}'`);
    }
    return n;
}
/** The reader went away (closed the pipe or its acks): a normal end for a trainer, not a failure. */
function readerGone(err) {
    const code = err?.code;
    return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ACK_EOF';
}
/**
 * One batch as one line: `{"batch": n, "records": [values]}` and a newline. Buffers (Avro
 * bytes) become base64 strings and bigints decimal strings, so any JSON reader can take it.
 */
function formatBatchLine(n, values) {
    return `${JSON.stringify({ batch: n, records: values.map(jsonSafe) })}\n`;
}
function jsonSafe(v) {
    if (v === null || typeof v !== 'object')
        return typeof v === 'bigint' ? v.toString() : v;
    if (Buffer.isBuffer(v))
        return v.toString('base64');
    if (v instanceof Uint8Array)
        return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    if (Array.isArray(v))
        return v.map(jsonSafe);
    if (v instanceof Map)
        return Object.fromEntries([...v].map(([k, x]) => [String(k), jsonSafe(x)]));
    const out = {};
    for (const [k, x] of Object.entries(v))
        out[k] = jsonSafe(x);
    return out;
}
/**
 * Writes each batch as a line and acks it once the line has been handed to the OS (the
 * write callback), or, with `acks`, once the reader sends the batch number back. Only one
 * line is ever in flight, so a reader that stops reading stops the consumer (the pipe fills).
 */
async function pipeBatches(source, out, opts = {}) {
    let batches = 0;
    let records = 0;
    let failure;
    // A closed pipe is reported through 'error' as well as to the write callback; without a
    // listener it would crash the process instead of ending the loop.
    const onError = (err) => (failure ??= err);
    out.on('error', onError);
    try {
        if (opts.maxBatches === 0)
            return { batches, records };
        for await (const batch of source) {
            if (failure)
                throw failure;
            const n = batches + 1;
            await writeLine(out, formatBatchLine(n, batch.records.map((r) => r.value)));
            if (opts.acks)
                await awaitAckLine(opts.acks, n);
            await batch.ack();
            batches = n;
            records += batch.records.length;
            if (opts.maxBatches !== undefined && batches >= opts.maxBatches)
                break;
        }
        return { batches, records };
    }
    finally {
        out.off('error', onError);
    }
}
function writeLine(out, line) {
    return new Promise((resolve, reject) => {
        if (out.destroyed || out.writableEnded) {
            reject(Object.assign(new Error('stdout is closed'), { code: 'ERR_STREAM_DESTROYED' }));
            return;
        }
        out.write(line, (err) => (err ? reject(err) : resolve()));
    });
}
async function awaitAckLine(acks, n) {
    const next = await acks.next();
    if (next.done)
        throw Object.assign(new Error(`stdin closed before batch ${n} was acknowledged`), { code: 'ACK_EOF' });
    const got = next.value.trim();
    if (got !== String(n))
        throw new Error(`expected the acknowledgement '${n}' on stdin, got '${got.slice(0, 80)}'`);
}
//# sourceMappingURL=consume.js.map