"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.EmbeddedRuntime = void 0;
const store_1 = require("../../core/store");
const logger_1 = require("../../core/logger");
const processors_1 = require("../../processors");
const topology_1 = require("../../topology/topology");
const validate_1 = require("../../topology/validate");
const memory_registry_1 = require("../registry/memory-registry");
const node_worker_1 = require("../runtime/node-worker");
const topic_serde_1 = require("../serde/topic-serde");
const embedded_log_1 = require("./embedded-log");
/**
 * The topology in one process over an in-memory log, through the same Avro serdes and
 * node workers as the Kafka runtime. Each node step reads a chunk after the node's
 * committed offset, writes its outputs and commits the next offset in one step.
 */
class EmbeddedRuntime {
    topology;
    opts;
    log;
    serdes;
    stats = new Map();
    workers = [];
    started = false;
    stores;
    constructor(topology, opts = {}) {
        this.topology = topology;
        this.opts = opts;
        this.log = opts.log ?? new embedded_log_1.EmbeddedLog();
        this.stores = opts.stores ?? new store_1.MemoryStoreProvider();
        this.serdes = new topic_serde_1.SerdeSet(opts.registry ?? new memory_registry_1.MemoryRegistry(), (t) => (0, topology_1.topicByName)(topology, t).type);
    }
    async start() {
        if (this.started)
            return;
        const lookup = this.opts.lookup ?? processors_1.lookupProcessor;
        const configs = (0, validate_1.validateTopology)(this.topology, lookup);
        for (const t of this.topology.topics)
            this.log.createTopic(t.name, t.partitions);
        const nodes = this.topology.nodes.filter((n) => !this.opts.only || this.opts.only.includes(n.name));
        this.workers = nodes.map((n) => new node_worker_1.NodeWorker(this.topology, n, lookup(n.processor), configs.get(n.name), this.serdes, {
            logger: this.opts.logger ?? logger_1.silentLogger,
            clock: this.opts.clock,
            scheduler: this.opts.scheduler,
            stores: this.stores,
        }));
        await Promise.all(this.workers.map((w) => w.prepare()));
        for (const w of this.workers)
            this.stats.set(w.node.name, { processed: 0, emitted: 0, deadLettered: 0 });
        this.started = true;
    }
    /** Encodes and appends values to a topic, as a producer would. */
    async produce(topic, records) {
        await this.start();
        const serde = this.serdes.for(topic);
        for (const r of records)
            this.log.append(topic, r.key, await serde.encode(r.value), r.timestamp ?? Date.now());
    }
    /** Appends raw bytes (e.g. to test what undecodable input does). */
    async produceRaw(topic, key, value, partition) {
        await this.start();
        this.log.append(topic, key, value, Date.now(), partition);
    }
    /** Runs every node until no node has anything left to read. */
    async runUntilIdle(maxSteps = Number.MAX_SAFE_INTEGER) {
        await this.start();
        const chunk = this.opts.chunkSize ?? 256;
        for (let step = 0; step < maxSteps; step++) {
            let progressed = false;
            for (const w of this.workers) {
                const topic = w.node.input;
                for (let p = 0; p < this.log.partitions(topic); p++) {
                    const from = this.log.committed(w.node.name, topic, p);
                    const entries = this.log.read(topic, p, from, chunk);
                    if (entries.length === 0)
                        continue;
                    const res = await w.process(entries.map((e) => ({ topic, partition: p, offset: String(e.offset), key: e.key, value: e.value, timestamp: e.timestamp })));
                    // Outputs and the offset commit in one synchronous step: the embedded transaction.
                    for (const m of res.messages)
                        this.log.append(m.topic, m.key, m.value);
                    this.log.commit(w.node.name, topic, p, entries[entries.length - 1].offset + 1);
                    const s = this.stats.get(w.node.name);
                    s.processed += res.processed;
                    s.emitted += res.emitted;
                    s.deadLettered += res.deadLettered;
                    progressed = true;
                }
            }
            if (!progressed)
                break;
        }
        return this.stats;
    }
    /** Flushes and closes processor state (e.g. the verdict cache file). */
    async close() {
        await this.stores.close();
    }
    /** Decodes every record of a topic, partition by partition. */
    async read(topic) {
        await this.start();
        const serde = this.serdes.for(topic);
        const out = [];
        for (let p = 0; p < this.log.partitions(topic); p++) {
            for (const e of this.log.read(topic, p, 0, Number.MAX_SAFE_INTEGER)) {
                out.push({ key: e.key?.toString('utf8') ?? null, value: await serde.decode(e.value), partition: p, offset: e.offset, timestamp: e.timestamp });
            }
        }
        return out;
    }
    typeOf(topic) {
        return (0, topology_1.topicByName)(this.topology, topic).type;
    }
}
exports.EmbeddedRuntime = EmbeddedRuntime;
//# sourceMappingURL=embedded-runtime.js.map