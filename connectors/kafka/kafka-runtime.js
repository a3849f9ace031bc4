"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.KafkaRuntime = void 0;
const processors_1 = require("../../processors");
const topology_1 = require("../../topology/topology");
const validate_1 = require("../../topology/validate");
const node_worker_1 = require("../runtime/node-worker");
const topic_serde_1 = require("../serde/topic-serde");
const kafka_admin_1 = require("./kafka-admin");
const kafka_node_runner_1 = require("./kafka-node-runner");
const kafka_store_1 = require("./kafka-store");
/** The topology on Kafka: each selected node is its own consumer group. */
class KafkaRuntime {
    topology;
    opts;
    runners = [];
    serdes;
    stores;
    abort = new AbortController();
    constructor(topology, opts) {
        this.topology = topology;
        this.opts = opts;
        this.serdes = new topic_serde_1.SerdeSet(opts.registry, (t) => (0, topology_1.topicByName)(topology, t).type);
        this.stores = new kafka_store_1.KafkaStoreProvider(opts.kafka, { topicPrefix: opts.storeTopicPrefix ?? 'valor.store.', logger: opts.logger });
    }
    async start() {
        const lookup = this.opts.lookup ?? processors_1.lookupProcessor;
        const configs = (0, validate_1.validateTopology)(this.topology, lookup);
        const names = this.opts.only?.length ? this.opts.only : this.topology.nodes.map((n) => n.name);
        const nodes = names.map((n) => (0, topology_1.nodeByName)(this.topology, n));
        if (this.opts.createTopics !== false) {
            const created = await (0, kafka_admin_1.ensureTopics)(this.opts.kafka, this.topology);
            if (created.length)
                this.opts.logger.info({ created }, 'created topics');
        }
        for (const node of nodes) {
            const worker = new node_worker_1.NodeWorker(this.topology, node, lookup(node.processor), configs.get(node.name), this.serdes, {
                logger: this.opts.logger,
                signal: this.abort.signal,
                stores: this.stores,
            });
            this.runners.push(new kafka_node_runner_1.KafkaNodeRunner(this.opts.kafka, worker, this.opts.config, this.opts.logger));
        }
        await Promise.all(this.runners.map((r) => r.start()));
        this.opts.logger.info({ nodes: names, delivery: this.opts.config.delivery }, 'kafka runtime started');
    }
    async stop() {
        this.abort.abort();
        await Promise.all(this.runners.map((r) => r.stop()));
        await this.stores.close();
    }
}
exports.KafkaRuntime = KafkaRuntime;
//# sourceMappingURL=kafka-runtime.js.map