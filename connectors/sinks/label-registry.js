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
exports.KafkaLabelRegistry = exports.FileLabelRegistry = void 0;
// Label ids for ODVG: stable forever and the same in every sink instance and after every
// restart. An id is the position of a category's FIRST appearance in an append-only log:
// a single-partition Kafka topic on a cluster, a file locally. To add categories an
// instance appends them and then reads the log up to its own write, so two instances that
// add the same category at once both end up with the id of whichever write came first.
//
// The topic is deliberately NOT compacted: compaction keeps the latest record per key, so
// a category written twice (two instances racing) would lose its first position and the
// ids after it would shift. With infinite retention and one record per new category the
// topic stays tiny.
const fs = __importStar(require("node:fs/promises"));
const path = __importStar(require("node:path"));
const node_crypto_1 = require("node:crypto");
const kafkajs_1 = require("kafkajs");
/** Distinct categories in first-appearance order. */
class FirstSeen {
    order = [];
    ids = new Map();
    add(category) {
        if (!this.ids.has(category)) {
            this.ids.set(category, this.order.length);
            this.order.push(category);
        }
    }
    id(category) {
        return this.ids.get(category);
    }
}
/** A local append-only file, one JSON string per line; for the embedded runtime and tests. */
class FileLabelRegistry {
    file;
    seen = new FirstSeen();
    lock = Promise.resolve();
    constructor(file) {
        this.file = file;
    }
    async reload() {
        let text = '';
        try {
            text = await fs.readFile(this.file, 'utf8');
        }
        catch (err) {
            if (err.code !== 'ENOENT')
                throw err;
        }
        const seen = new FirstSeen();
        for (const line of text.split('\n')) {
            if (!line)
                continue;
            try {
                seen.add(JSON.parse(line));
            }
            catch {
                // a torn last line from a crash: the category is appended again when next needed
            }
        }
        this.seen = seen;
    }
    async idsFor(categories) {
        const run = this.lock.then(async () => {
            if (categories.some((c) => this.seen.id(c) === undefined))
                await this.reload();
            const missing = categories.filter((c) => this.seen.id(c) === undefined);
            if (missing.length) {
                await fs.mkdir(path.dirname(this.file), { recursive: true });
                const fh = await fs.open(this.file, 'a');
                try {
                    // A torn line from a crash must not swallow the next entry.
                    const st = await fh.stat();
                    const lead = st.size > 0 && !(await endsWithNewline(this.file, st.size)) ? '\n' : '';
                    await fh.appendFile(lead + missing.map((c) => JSON.stringify(c)).join('\n') + '\n');
                    await fh.sync();
                }
                finally {
                    await fh.close();
                }
                await this.reload();
            }
            return new Map(categories.map((c) => [c, this.seen.id(c)]));
        });
        this.lock = run.catch(() => undefined);
        return run;
    }
    labels() {
        return [...this.seen.order];
    }
    async close() {
        await this.lock;
    }
    static async open(file) {
        const r = new FileLabelRegistry(file);
        await r.reload();
        return r;
    }
}
exports.FileLabelRegistry = FileLabelRegistry;
async function endsWithNewline(file, size) {
    const fh = await fs.open(file, 'r');
    try {
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, size - 1);
        return b[0] === 0x0a;
    }
    finally {
        await fh.close();
    }
}
/** The label log on Kafka: one partition, infinite retention, no compaction. */
class KafkaLabelRegistry {
    kafka;
    topic;
    seen = new FirstSeen();
    consumer;
    producer;
    /** Highest offset read so far, and who waits for which offset. */
    readTo = -1n;
    waiters = [];
    lock = Promise.resolve();
    constructor(kafka, topic) {
        this.kafka = kafka;
        this.topic = topic;
    }
    static async open(kafka, topic, opts = {}) {
        const r = new KafkaLabelRegistry(kafka, topic);
        const admin = kafka.admin();
        await admin.connect();
        let high;
        try {
            const topics = await admin.fetchTopicMetadata({ topics: [] }).then((m) => m.topics.map((t) => t.name));
            if (!topics.includes(topic)) {
                await admin.createTopics({
                    waitForLeaders: true,
                    topics: [{ topic, numPartitions: 1, replicationFactor: opts.replicationFactor ?? 1, configEntries: [{ name: 'retention.ms', value: '-1' }, { name: 'retention.bytes', value: '-1' }] }],
                });
            }
            else {
                const meta = await admin.fetchTopicMetadata({ topics: [topic] });
                const parts = meta.topics[0].partitions.length;
                if (parts !== 1)
                    throw new Error(`label topic ${topic} has ${parts} partitions; ids need a single total order, so it must have exactly 1`);
            }
            high = BigInt((await admin.fetchTopicOffsets(topic))[0].high);
        }
        finally {
            await admin.disconnect();
        }
        // Every instance reads the whole log; it never commits, so a fresh group each time.
        r.consumer = kafka.consumer({ groupId: `${topic}.reader.${(0, node_crypto_1.randomUUID)()}`, allowAutoTopicCreation: false });
        await r.consumer.connect();
        await r.consumer.subscribe({ topics: [topic], fromBeginning: true });
        await r.consumer.run({
            autoCommit: false,
            eachMessage: async ({ message }) => {
                const category = message.key?.toString('utf8');
                if (category)
                    r.seen.add(category);
                r.readTo = BigInt(message.offset);
                r.waiters = r.waiters.filter((w) => (w.offset <= r.readTo ? (w.resolve(), false) : true));
            },
        });
        await r.waitFor(high - 1n, opts.loadTimeoutMs ?? 60_000);
        r.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: kafkajs_1.Partitioners.DefaultPartitioner });
        await r.producer.connect();
        return r;
    }
    waitFor(offset, timeoutMs) {
        if (offset <= this.readTo)
            return Promise.resolve();
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`label topic ${this.topic}: not read up to offset ${offset} within ${timeoutMs} ms`)), timeoutMs);
            this.waiters.push({ offset, resolve: () => (clearTimeout(timer), resolve()) });
        });
    }
    async idsFor(categories) {
        const run = this.lock.then(async () => {
            const missing = [...new Set(categories.filter((c) => this.seen.id(c) === undefined))];
            if (missing.length) {
                const res = await this.producer.send({ topic: this.topic, acks: -1, messages: missing.map((c) => ({ key: c, value: c, partition: 0 })) });
                const last = BigInt(res[0].baseOffset ?? '0') + BigInt(missing.length - 1);
                // Our own writes define nothing until read back in log order.
                await this.waitFor(last, 60_000);
            }
            return new Map(categories.map((c) => [c, this.seen.id(c)]));
        });
        this.lock = run.catch(() => undefined);
        return run;
    }
    labels() {
        return [...this.seen.order];
    }
    async close() {
        await this.lock;
        await Promise.allSettled([this.consumer?.disconnect(), this.producer?.disconnect()]);
    }
}
exports.KafkaLabelRegistry = KafkaLabelRegistry;
//# sourceMappingURL=label-registry.js.map