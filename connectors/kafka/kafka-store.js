"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.KafkaStoreProvider = exports.KafkaStore = void 0;
// A KeyValueStore backed by a compacted Kafka topic, shared by every instance of a node
// and surviving restarts. Each instance reads the topic from the beginning on open (it is
// ready once it has caught up with the end offsets it saw), keeps tailing it so entries
// written by other instances arrive, and writes its own entries with an idempotent
// producer. Writes are outside the node's transactions on purpose: a verdict that was
// paid for stays cached even if the transaction holding its outputs aborts.
const node_crypto_1 = require("node:crypto");
const kafkajs_1 = require("kafkajs");
class KafkaStore {
    name;
    topic;
    map = new Map();
    consumer;
    producer;
    constructor(name, topic) {
        this.name = name;
        this.topic = topic;
    }
    static async open(kafka, name, opts) {
        const store = new KafkaStore(name, `${opts.topicPrefix}${name}`);
        const admin = kafka.admin();
        await admin.connect();
        let ends;
        try {
            if (!(await admin.listTopics()).includes(store.topic)) {
                await admin.createTopics({
                    waitForLeaders: true,
                    topics: [
                        {
                            topic: store.topic,
                            numPartitions: opts.partitions ?? 4,
                            replicationFactor: opts.replicationFactor ?? 1,
                            configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
                        },
                    ],
                });
            }
            const offsets = await admin.fetchTopicOffsets(store.topic);
            ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
        }
        finally {
            await admin.disconnect();
        }
        // A fresh group per instance that never commits: every instance reads everything.
        const consumer = kafka.consumer({ groupId: `${store.topic}.reader.${(0, node_crypto_1.randomUUID)()}`, allowAutoTopicCreation: false });
        store.consumer = consumer;
        const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
        let loaded;
        const ready = new Promise((r) => (loaded = r));
        if (pending.size === 0)
            loaded();
        await consumer.connect();
        await consumer.subscribe({ topics: [store.topic], fromBeginning: true });
        await consumer.run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
                const key = message.key?.toString('utf8');
                if (key !== undefined) {
                    if (message.value === null)
                        store.map.delete(key);
                    else
                        store.map.set(key, message.value.toString('utf8'));
                }
                if (pending.has(partition) && BigInt(message.offset) + 1n >= ends.get(partition)) {
                    pending.delete(partition);
                    if (pending.size === 0)
                        loaded();
                }
            },
        });
        const timeoutMs = opts.loadTimeoutMs ?? 120_000;
        let timer;
        try {
            await Promise.race([
                ready,
                new Promise((_, reject) => {
                    timer = setTimeout(() => reject(new Error(`store ${name}: could not read topic ${store.topic} to its end within ${timeoutMs} ms`)), timeoutMs);
                }),
            ]);
        }
        catch (err) {
            await consumer.disconnect().catch(() => undefined);
            throw err;
        }
        finally {
            clearTimeout(timer);
        }
        store.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: kafkajs_1.Partitioners.DefaultPartitioner });
        await store.producer.connect();
        opts.logger.info({ store: name, topic: store.topic, entries: store.map.size }, 'store loaded');
        return store;
    }
    async get(key) {
        return this.map.get(key);
    }
    async put(key, value) {
        await this.producer.send({ topic: this.topic, acks: -1, messages: [{ key, value }] });
        this.map.set(key, value);
    }
    size() {
        return this.map.size;
    }
    async close() {
        await Promise.allSettled([this.consumer?.disconnect(), this.producer?.disconnect()]);
    }
}
exports.KafkaStore = KafkaStore;
class KafkaStoreProvider {
    kafka;
    opts;
    stores = new Map();
    constructor(kafka, opts) {
        this.kafka = kafka;
        this.opts = opts;
    }
    open(name) {
        let s = this.stores.get(name);
        if (!s) {
            s = KafkaStore.open(this.kafka, name, this.opts);
            s.catch(() => this.stores.delete(name));
            this.stores.set(name, s);
        }
        return s;
    }
    async close() {
        const all = [...this.stores.values()];
        this.stores.clear();
        await Promise.allSettled(all.map(async (s) => (await s).close()));
    }
}
exports.KafkaStoreProvider = KafkaStoreProvider;
//# sourceMappingURL=kafka-store.js.map