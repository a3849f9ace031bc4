"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.DecodeError = exports.NodeWorker = exports.SimpleFlowControl = void 0;
const node_events_1 = require("node:events");
const rxjs_1 = require("rxjs");
const errors_1 = require("../../core/errors");
Object.defineProperty(exports, "DecodeError", { enumerable: true, get: function () { return errors_1.DecodeError; } });
const clock_1 = require("../../core/clock");
const store_1 = require("../../core/store");
const dead_letter_1 = require("./dead-letter");
/** Flow control that records pause requests; runtimes subscribe to act on them. */
class SimpleFlowControl {
    paused$ = new rxjs_1.BehaviorSubject(false);
    reason = null;
    pause(reason) {
        this.reason = reason;
        if (!this.paused$.value)
            this.paused$.next(true);
    }
    resume() {
        this.reason = null;
        if (this.paused$.value)
            this.paused$.next(false);
    }
}
exports.SimpleFlowControl = SimpleFlowControl;
/**
 * Runs one node over chunks of raw messages, identically for every runtime: decode with
 * the input topic's serde, run the processor, encode outputs in input order (so per-key
 * order holds), and turn every failure (undecodable bytes, wrong schema, validation,
 * processing after retries, unencodable output) into a dead letter with the original
 * bytes. A retriable infrastructure failure (e.g. registry unreachable) throws instead,
 * so the runtime retries the chunk without committing anything.
 */
class NodeWorker {
    topology;
    node;
    spec;
    config;
    serdes;
    opts;
    operator;
    flow;
    constructor(topology, node, spec, config, serdes, opts) {
        this.topology = topology;
        this.node = node;
        this.spec = spec;
        this.config = config;
        this.serdes = serdes;
        this.opts = opts;
        this.flow = opts.flow ?? new SimpleFlowControl();
        const signal = opts.signal ?? new AbortController().signal;
        // Every in-flight model call listens for shutdown on this one signal.
        (0, node_events_1.setMaxListeners)(0, signal);
        const ctx = {
            node: node.name,
            logger: opts.logger.child({ node: node.name }),
            clock: opts.clock ?? clock_1.systemClock,
            scheduler: opts.scheduler ?? rxjs_1.asyncScheduler,
            flow: this.flow,
            signal,
            stores: opts.stores ?? new store_1.MemoryStoreProvider(),
        };
        this.operator = spec.create(config, ctx);
    }
    /** Registers every schema this node touches, so start-up fails fast on a bad registry. */
    async prepare() {
        await this.spec.prepare?.(this.config);
        const topics = [this.node.input, ...Object.values(this.node.outputs), this.topology.deadLetterTopic];
        await Promise.all(topics.map((t) => this.serdes.for(t).id()));
    }
    async process(messages) {
        const dead = new Map();
        const decoded = await Promise.all(messages.map(async (m) => {
            try {
                const value = await this.serdes.for(m.topic).decode(m.value);
                return { key: m.key ? m.key.toString('utf8') : null, value, origin: { topic: m.topic, partition: m.partition, offset: m.offset }, timestamp: m.timestamp };
            }
            catch (err) {
                if ((0, errors_1.isRetriable)(err))
                    throw err;
                dead.set(m, { error: err, attempts: 1 });
                return null;
            }
        }));
        const inputs = decoded.filter((r) => r !== null);
        const outcomes = inputs.length ? await (0, rxjs_1.lastValueFrom)((0, rxjs_1.from)(inputs).pipe(this.operator, (0, rxjs_1.toArray)())) : [];
        if (this.opts.signal?.aborted) {
            // Shutdown cut calls short: their failures say nothing about the records. Leave the
            // chunk uncommitted so it is redelivered, instead of dead-lettering good records.
            throw new errors_1.ValorError(`node ${this.node.name} is stopping; chunk left uncommitted for redelivery`, { retriable: true });
        }
        if (outcomes.length !== inputs.length) {
            throw new Error(`processor ${this.spec.kind} (node ${this.node.name}) returned ${outcomes.length} outcomes for ${inputs.length} inputs`);
        }
        const byOffset = new Map(outcomes.map((o) => [`${o.input.origin.partition}:${o.input.origin.offset}`, o]));
        const result = { messages: [], processed: messages.length, emitted: 0, deadLettered: 0 };
        for (const m of messages) {
            const failed = dead.get(m);
            const outcome = byOffset.get(`${m.partition}:${m.offset}`);
            let failure = failed ?? outcome?.failure;
            let encoded = [];
            if (!failure && outcome) {
                try {
                    encoded = await Promise.all(outcome.outputs.map(async (e) => {
                        const topic = this.node.outputs[e.port];
                        if (!topic)
                            throw new errors_1.ValorError(`processor emitted on unknown port '${e.port}'`);
                        return { topic, key: e.key, value: await this.serdes.for(topic).encode(e.value) };
                    }));
                }
                catch (err) {
                    if ((0, errors_1.isRetriable)(err))
                        throw err;
                    failure = { error: err, attempts: 1 };
                }
            }
            else if (!failure) {
                failure = { error: new Error('processor produced no outcome for this record'), attempts: 1 };
            }
            if (failure) {
                result.messages.push(await this.deadLetter(m, failure.error, failure.attempts));
                result.deadLettered++;
            }
            else {
                result.messages.push(...encoded);
                result.emitted += encoded.length;
            }
        }
        return result;
    }
    async deadLetter(m, error, attempts) {
        const dl = (0, dead_letter_1.deadLetterRecord)(this.node.name, m, error, attempts, (this.opts.clock ?? clock_1.systemClock).now());
        this.opts.logger.warn({ node: this.node.name, topic: m.topic, partition: m.partition, offset: m.offset, errorClass: dl.errorClass, reason: dl.reason }, 'record dead-lettered');
        const topic = this.topology.deadLetterTopic;
        return { topic, key: (0, dead_letter_1.deadLetterKey)(m), value: await this.serdes.for(topic).encode(dl) };
    }
}
exports.NodeWorker = NodeWorker;
//# sourceMappingURL=node-worker.js.map