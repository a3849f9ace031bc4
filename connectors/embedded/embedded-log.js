"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.EmbeddedLog = void 0;
const kafkajs_1 = require("kafkajs");
// Kafka's default (murmur2) partitioner, so a key lands in the same partition number on
// the embedded log as on a real cluster with the same partition count.
const partitioner = kafkajs_1.Partitioners.DefaultPartitioner();
/**
 * An in-process, append-only, partitioned log with consumer-group offsets. Appends and
 * offset commits of one node step happen in one synchronous call, which is what a Kafka
 * transaction gives the Kafka runtime.
 */
class EmbeddedLog {
    topics = new Map();
    offsets = new Map();
    createTopic(name, partitions) {
        if (!this.topics.has(name))
            this.topics.set(name, Array.from({ length: partitions }, () => []));
    }
    partitions(topic) {
        return this.log(topic).length;
    }
    partitionFor(topic, key) {
        const n = this.partitions(topic);
        if (key === null)
            return 0;
        return partitioner({
            topic,
            partitionMetadata: Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 })),
            message: { key, value: null },
        });
    }
    append(topic, key, value, timestamp = Date.now(), partition) {
        const p = partition ?? this.partitionFor(topic, key);
        const entries = this.log(topic)[p];
        if (!entries)
            throw new Error(`topic '${topic}' has no partition ${p}`);
        entries.push({ key: key === null ? null : Buffer.from(key), value, timestamp });
        return { partition: p, offset: entries.length - 1 };
    }
    read(topic, partition, from, max) {
        const entries = this.log(topic)[partition] ?? [];
        return entries.slice(from, from + max).map((e, i) => ({ ...e, offset: from + i }));
    }
    endOffset(topic, partition) {
        return this.log(topic)[partition]?.length ?? 0;
    }
    committed(group, topic, partition) {
        return this.offsets.get(`${group}\u0000${topic}\u0000${partition}`) ?? 0;
    }
    commit(group, topic, partition, nextOffset) {
        this.offsets.set(`${group}\u0000${topic}\u0000${partition}`, nextOffset);
    }
    topicNames() {
        return [...this.topics.keys()];
    }
    log(topic) {
        const t = this.topics.get(topic);
        if (!t)
            throw new Error(`embedded log has no topic '${topic}'`);
        return t;
    }
}
exports.EmbeddedLog = EmbeddedLog;
//# sourceMappingURL=embedded-log.js.map