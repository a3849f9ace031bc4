import type { Kafka } from 'kafkajs';
import { errorMessage } from '../../core/errors';
import type { Topology } from '../../topology/topology';

/**
 * Creates the topology's topics up front (auto-creation on KRaft gives transient
 * "does not host this topic-partition" errors) and waits for their leaders.
 */
export async function ensureTopics(kafka: Kafka, topology: Topology, replicationFactor = 1): Promise<string[]> {
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
  } finally {
    await admin.disconnect();
  }
}

/**
 * Retries what kafkajs reports as retriable, such as "not the leader for that
 * topic-partition" just after the topics were created (KRaft spreads leadership lazily).
 */
export async function retryRetriable<T>(what: string, fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !(err as { retriable?: boolean }).retriable) throw new Error(`${what}: ${errorMessage(err)}`, { cause: err });
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** i, 3_000)));
    }
  }
}
