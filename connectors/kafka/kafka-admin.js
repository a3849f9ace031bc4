"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.ensureTopics = ensureTopics;
/**
 * Creates the topology's topics up front (auto-creation on KRaft gives transient
 * "does not host this topic-partition" errors) and waits for their leaders.
 */
async function ensureTopics(kafka, topology, replicationFactor = 1) {
    const admin = kafka.admin();
    await admin.connect();
    try {
        const existing = new Set(await admin.listTopics());
        const missing = topology.topics.filter((t) => !existing.has(t.name));
        if (missing.length) {
            await admin.createTopics({
                waitForLeaders: true,
                topics: missing.map((t) => ({
                    topic: t.name,
                    numPartitions: t.partitions,
                    replicationFactor,
                    configEntries: t.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
                })),
            });
        }
        return missing.map((t) => t.name);
    }
    finally {
        await admin.disconnect();
    }
}
//# sourceMappingURL=kafka-admin.js.map