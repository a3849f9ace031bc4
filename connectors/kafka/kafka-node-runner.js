"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.KafkaNodeRunner = void 0;
const kafkajs_1 = require("kafkajs");
const rxjs_1 = require("rxjs");
/**
 * Runs one node as a consumer group on Kafka.
 *
 * Exactly-once: kafkajs 2.2.4 sends TxnOffsetCommit without KIP-447's group generation,
 * so the broker cannot fence a zombie by group membership. We fence by transactional id
 * instead: one transactional producer per input partition (`<group>.<topic>.<partition>`).
 * Whoever owns a partition next initialises the same id, which aborts or fences anything
 * the previous owner still had open. Each chunk of at most `maxInFlight` records is one
 * transaction holding its outputs, its dead letters and the next input offset.
 *
 * At-least-once: an idempotent producer writes the chunk, then the offsets are committed;
 * output ids are deterministic, so a redelivered chunk produces identical records.
 */
class KafkaNodeRunner {
    kafka;
    worker;
    cfg;
    groupId;
    stats = { processed: 0, emitted: 0, deadLettered: 0, transactions: 0, aborted: 0 };
    consumer;
    sharedProducer;
    txnProducers = new Map();
    flowSub;
    log;
    constructor(kafka, worker, cfg, logger) {
        this.kafka = kafka;
        this.worker = worker;
        this.cfg = cfg;
        this.groupId = `${cfg.groupPrefix}.${worker.node.name}`;
        this.log = logger.child({ node: worker.node.name, group: this.groupId });
    }
    get topic() {
        return this.worker.node.input;
    }
    async start() {
        await this.worker.prepare();
        const consumer = this.kafka.consumer({
            groupId: this.groupId,
            sessionTimeout: this.cfg.sessionTimeoutMs,
            heartbeatInterval: this.cfg.heartbeatIntervalMs,
            readUncommitted: false, // read_committed: never see outputs of aborted transactions
            allowAutoTopicCreation: false,
        });
        this.consumer = consumer;
        consumer.on(consumer.events.GROUP_JOIN, (e) => {
            const assigned = new Set((e.payload.memberAssignment[this.topic] ?? []));
            this.log.info({ partitions: [...assigned] }, 'partitions assigned');
            // A partition that moved away has (or will have) a producer with our transactional
            // id elsewhere; ours is fenced. Drop it so a later re-assignment starts fresh.
            for (const p of [...this.txnProducers.keys()])
                if (!assigned.has(p))
                    void this.dropProducer(p);
        });
        consumer.on(consumer.events.CRASH, (e) => this.log.error({ error: String(e.payload.error), restart: e.payload.restart }, 'consumer crashed'));
        await consumer.connect();
        if (this.cfg.delivery === 'at-least-once') {
            this.sharedProducer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: kafkajs_1.Partitioners.DefaultPartitioner });
            await this.sharedProducer.connect();
        }
        await consumer.subscribe({ topics: [this.topic], fromBeginning: this.cfg.fromBeginning });
        await consumer.run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            partitionsConsumedConcurrently: this.cfg.partitionsConsumedConcurrently,
            eachBatch: (payload) => this.onBatch(payload),
        });
        // A processor may ask to stop taking records (e.g. its provider is down): pause, do not
        // drop. Subscribed after run(): kafkajs refuses pause/resume before the group exists.
        this.flowSub = this.worker.flow.paused$.pipe((0, rxjs_1.distinctUntilChanged)()).subscribe((paused) => {
            if (paused)
                consumer.pause([{ topic: this.topic }]);
            else
                consumer.resume([{ topic: this.topic }]);
        });
    }
    async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }) {
        const { partition } = batch;
        const messages = batch.messages;
        for (let i = 0; i < messages.length; i += this.cfg.maxInFlight) {
            if (!isRunning() || isStale())
                return;
            const chunk = messages.slice(i, i + this.cfg.maxInFlight);
            // kafkajs heartbeats only between batches; long processing must beat by itself.
            const beat = setInterval(() => heartbeat().catch(() => undefined), this.cfg.heartbeatIntervalMs);
            let result;
            try {
                result = await this.worker.process(chunk.map((m) => toRaw(batch.topic, partition, m)));
            }
            finally {
                clearInterval(beat);
            }
            const last = chunk[chunk.length - 1];
            const next = (BigInt(last.offset) + 1n).toString();
            if (this.cfg.delivery === 'exactly-once')
                await this.commitInTransaction(partition, result.messages, next);
            else
                await this.commitAtLeastOnce(partition, result.messages, next);
            resolveOffset(last.offset);
            this.stats.processed += result.processed;
            this.stats.emitted += result.emitted;
            this.stats.deadLettered += result.deadLettered;
            await heartbeat();
        }
    }
    async commitInTransaction(partition, out, nextOffset) {
        const producer = await this.producerFor(partition);
        const txn = await producer.transaction();
        try {
            if (out.length)
                await txn.sendBatch({ topicMessages: groupByTopic(out), acks: -1 });
            await txn.sendOffsets({
                consumerGroupId: this.groupId,
                topics: [{ topic: this.topic, partitions: [{ partition, offset: nextOffset }] }],
            });
            await txn.commit();
            this.stats.transactions++;
        }
        catch (err) {
            this.stats.aborted++;
            this.log.warn({ partition, error: String(err) }, 'transaction failed; aborting and recreating the producer');
            await txn.abort().catch(() => undefined);
            // A failed or fenced producer can stay stuck in kafkajs: always start over with a new one.
            await this.dropProducer(partition);
            throw err; // the batch is retried from the last committed offset
        }
    }
    async commitAtLeastOnce(partition, out, nextOffset) {
        if (out.length)
            await this.sharedProducer.sendBatch({ topicMessages: groupByTopic(out), acks: -1 });
        await this.consumer.commitOffsets([{ topic: this.topic, partition, offset: nextOffset }]);
    }
    producerFor(partition) {
        let p = this.txnProducers.get(partition);
        if (!p) {
            p = (async () => {
                const producer = this.kafka.producer({
                    transactionalId: `${this.groupId}.${this.topic}.${partition}`,
                    idempotent: true,
                    maxInFlightRequests: 1,
                    transactionTimeout: this.cfg.transactionTimeoutMs,
                    allowAutoTopicCreation: false,
                    createPartitioner: kafkajs_1.Partitioners.DefaultPartitioner,
                });
                await producer.connect(); // initialises the producer id: fences older owners of this id
                return producer;
            })();
            p.catch(() => this.txnProducers.delete(partition));
            this.txnProducers.set(partition, p);
        }
        return p;
    }
    async dropProducer(partition) {
        const p = this.txnProducers.get(partition);
        this.txnProducers.delete(partition);
        if (p)
            await p.then((producer) => producer.disconnect()).catch(() => undefined);
    }
    /** Stops fetching, lets the batch in work finish and commit, then disconnects. */
    async stop() {
        this.flowSub?.unsubscribe();
        await this.consumer?.disconnect().catch((e) => this.log.warn({ error: String(e) }, 'consumer disconnect failed'));
        await Promise.all([...this.txnProducers.keys()].map((p) => this.dropProducer(p)));
        await this.sharedProducer?.disconnect().catch(() => undefined);
    }
}
exports.KafkaNodeRunner = KafkaNodeRunner;
function toRaw(topic, partition, m) {
    return { topic, partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null, timestamp: Number(m.timestamp) };
}
function groupByTopic(out) {
    const by = new Map();
    for (const m of out) {
        let list = by.get(m.topic);
        if (!list)
            by.set(m.topic, (list = []));
        list.push({ key: m.key, value: m.value });
    }
    return [...by].map(([topic, messages]) => ({ topic, messages }));
}
//# sourceMappingURL=kafka-node-runner.js.map