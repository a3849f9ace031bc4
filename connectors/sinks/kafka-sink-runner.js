"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.KafkaSinkRunner = void 0;
// A file sink on Kafka, the way Kafka Connect's file/object-store sinks work: the consumer
// group spreads partitions over sink processes; when a process gets a partition it derives
// the resume offset from the finished shard files (not from the group's committed offset)
// and seeks there; offsets are committed after shards are published, only as a hint for
// lag monitoring. Records that do not decode or format go to the dead-letter topic.
const kafkajs_1 = require("kafkajs");
const errors_1 = require("../../core/errors");
const dead_letter_1 = require("../runtime/dead-letter");
const partition_sink_1 = require("./partition-sink");
class KafkaSinkRunner {
    o;
    consumer;
    producer;
    sinks = new Map();
    shardsClosed = 0;
    log;
    constructor(o) {
        this.o = o;
        this.log = o.logger.child({ sink: o.format.name, topic: o.topic, group: o.groupId });
    }
    get stats() {
        const s = { partitions: [...this.sinks.keys()].sort((a, b) => a - b), written: 0, duplicates: 0, skipped: 0, deadLettered: 0, shardsClosed: this.shardsClosed };
        return s;
    }
    /** Totals over the partitions this process holds now. */
    async totals() {
        const s = this.stats;
        for (const p of this.sinks.values()) {
            const st = (await p).stats;
            s.written += st.written;
            s.duplicates += st.duplicates;
            s.skipped += st.skipped;
            s.deadLettered += st.deadLettered;
        }
        return s;
    }
    sinkFor(partition) {
        let s = this.sinks.get(partition);
        if (!s) {
            s = partition_sink_1.PartitionSink.open({
                storage: this.o.storage,
                dir: this.o.shardDir,
                topic: this.o.topic,
                partition,
                format: this.o.format,
                rotation: this.o.rotation,
                deadLetter: (r, err) => this.deadLetter(partition, r, err),
                logger: this.log,
            });
            s.catch(() => this.sinks.delete(partition));
            this.sinks.set(partition, s);
        }
        return s;
    }
    async start() {
        await this.o.serdes.for(this.o.topic).id();
        this.producer = this.o.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: kafkajs_1.Partitioners.DefaultPartitioner });
        await this.producer.connect();
        const consumer = this.o.kafka.consumer({
            groupId: this.o.groupId,
            sessionTimeout: this.o.sessionTimeoutMs ?? 30_000,
            heartbeatInterval: this.o.heartbeatIntervalMs ?? 3_000,
            readUncommitted: false,
            allowAutoTopicCreation: false,
        });
        this.consumer = consumer;
        consumer.on(consumer.events.GROUP_JOIN, (e) => {
            const assigned = new Set((e.payload.memberAssignment[this.o.topic] ?? []));
            this.log.info({ partitions: [...assigned] }, 'sink partitions assigned');
            // A partition that moved away is another process's now: drop our unpublished shard
            // so two writers never publish the same offsets.
            for (const p of [...this.sinks.keys()]) {
                if (!assigned.has(p)) {
                    const s = this.sinks.get(p);
                    this.sinks.delete(p);
                    void s.then((x) => x.abort()).catch(() => undefined);
                }
            }
            // Resume where the files end, whatever the group committed.
            for (const p of assigned) {
                void this.sinkFor(p)
                    .then((s) => {
                    if (s.resumeOffset !== null)
                        consumer.seek({ topic: this.o.topic, partition: p, offset: s.resumeOffset });
                })
                    .catch((err) => this.log.error({ partition: p, error: (0, errors_1.errorMessage)(err) }, 'cannot open the sink partition'));
            }
        });
        await consumer.connect();
        await consumer.subscribe({ topics: [this.o.topic], fromBeginning: true });
        await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (b) => this.onBatch(b) });
        this.log.info('sink started');
    }
    async onBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }) {
        if (!isRunning() || isStale())
            return;
        const sink = await this.sinkFor(batch.partition);
        const serde = this.o.serdes.for(this.o.topic);
        const records = [];
        for (const m of batch.messages) {
            const r = { offset: m.offset, timestamp: Number(m.timestamp), key: m.key, raw: m.value };
            try {
                r.value = await serde.decode(m.value);
            }
            catch (err) {
                if ((0, errors_1.isRetriable)(err))
                    throw err;
                r.error = err;
            }
            records.push(r);
        }
        const beat = setInterval(() => heartbeat().catch(() => undefined), this.o.heartbeatIntervalMs ?? 3_000);
        let closed;
        try {
            closed = await sink.handle(records);
        }
        finally {
            clearInterval(beat);
        }
        if (isStale())
            return; // the partition moved while we wrote: its new owner takes over from the files
        this.shardsClosed += closed.length;
        const last = closed.at(-1);
        if (last)
            await this.consumer.commitOffsets([{ topic: this.o.topic, partition: batch.partition, offset: (BigInt(last.endOffset) + 1n).toString() }]);
        const lastMsg = batch.messages.at(-1);
        if (lastMsg)
            resolveOffset(lastMsg.offset);
        await heartbeat();
    }
    async deadLetter(partition, r, error) {
        const m = { topic: this.o.topic, partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.raw };
        const dl = (0, dead_letter_1.deadLetterRecord)(`sink.${this.o.format.name}`, m, error, 1, Date.now());
        this.log.warn({ partition, offset: r.offset, errorClass: dl.errorClass, reason: dl.reason }, 'record dead-lettered by the sink');
        const value = await this.o.serdes.for(this.o.deadLetterTopic).encode(dl);
        await this.producer.send({ topic: this.o.deadLetterTopic, acks: -1, messages: [{ key: (0, dead_letter_1.deadLetterKey)(m), value }] });
    }
    /** Stops consuming, publishes every open shard and commits their offsets. */
    async stop() {
        await this.consumer?.stop();
        for (const [p, s] of this.sinks) {
            const shard = await (await s).close().catch((err) => {
                this.log.error({ partition: p, error: (0, errors_1.errorMessage)(err) }, 'could not publish the open shard; it is redone on restart');
                return null;
            });
            if (shard) {
                this.shardsClosed++;
                await this.consumer?.commitOffsets([{ topic: this.o.topic, partition: p, offset: (BigInt(shard.endOffset) + 1n).toString() }]).catch(() => undefined);
            }
        }
        await this.o.format.close?.();
        await Promise.allSettled([this.consumer?.disconnect(), this.producer?.disconnect()]);
    }
}
exports.KafkaSinkRunner = KafkaSinkRunner;
//# sourceMappingURL=kafka-sink-runner.js.map