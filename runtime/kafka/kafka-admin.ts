import type { Admin, ITopicConfig, Kafka } from 'kafkajs';
import { errorMessage } from '../../core/errors';
import type { Topology } from '../../topology/topology';

/** How long a new topic may take to get leaders that answer, before start-up gives up. */
export const TOPIC_READY_TIMEOUT_MS = 60_000;

/**
 * Creates the topology's topics up front (auto-creation on KRaft gives transient
 * "does not host this topic-partition" errors) and waits until every partition answers.
 */
export async function ensureTopics(kafka: Kafka, topology: Topology, replicationFactor = 1, timeoutMs = TOPIC_READY_TIMEOUT_MS): Promise<string[]> {
  return createTopics(
    kafka,
    topology.topics.map((t) => ({
      topic: t.name,
      numPartitions: t.partitions,
      replicationFactor,
      configEntries: t.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
    })),
    timeoutMs,
  );
}

/**
 * Creates the topics that are missing and waits until each is usable: metadata with a
 * leader for every partition and offsets that its leader serves. Another client creating
 * the same topic at the same moment is fine. Right after creation a broker can answer
 * "does not host this topic-partition" or "leader not available" for a while (kafkajs does
 * not retry those around createTopics), so every step retries until `timeoutMs`, and the
 * error then names the topic that never became ready. Returns the topics this call created.
 */
export async function createTopics(kafka: Kafka, topics: ITopicConfig[], timeoutMs = TOPIC_READY_TIMEOUT_MS): Promise<string[]> {
  const admin = kafka.admin();
  await retryTransient('connecting the admin client', () => admin.connect(), timeoutMs);
  try {
    const deadline = Date.now() + timeoutMs;
    const existing = new Set(await retryTransient('listing topics', () => admin.listTopics(), timeoutMs));
    const missing = topics.filter((t) => !existing.has(t.topic));
    const created: string[] = [];
    for (const t of missing) {
      // One at a time, so "already exists" (someone else won the race) is known per topic.
      const made = await retryTransient(
        `creating topic ${t.topic}`,
        () => admin.createTopics({ waitForLeaders: false, topics: [t] }).catch(ignoreExists),
        deadline - Date.now(),
      );
      if (made) created.push(t.topic);
    }
    for (const t of topics) await waitTopicReady(admin, t.topic, Math.max(1_000, deadline - Date.now()));
    return created;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Waits until every partition of `topic` has a leader that serves its offsets. */
export async function waitTopicReady(admin: Admin, topic: string, timeoutMs = TOPIC_READY_TIMEOUT_MS): Promise<void> {
  await retryTransient(
    `waiting for topic ${topic} to be ready`,
    async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics.find((x) => x.name === topic)?.partitions ?? [];
      if (!partitions.length || partitions.some((p) => p.leader < 0)) throw transient(`topic ${topic} has partitions without a leader`);
      await admin.fetchTopicOffsets(topic);
    },
    timeoutMs,
  );
}

/** kafkajs rejects with TOPIC_ALREADY_EXISTS when another client created it first: not an error here. */
function ignoreExists(err: unknown): boolean {
  if (/already exists/i.test(errorMessage(err)) || (err as { type?: string }).type === 'TOPIC_ALREADY_EXISTS') return false;
  const nested = (err as { errors?: unknown[] }).errors;
  if (Array.isArray(nested) && nested.length && nested.every((e) => (e as { type?: string }).type === 'TOPIC_ALREADY_EXISTS')) return false;
  throw err;
}

function transient(message: string): Error {
  return Object.assign(new Error(message), { retriable: true });
}

/** Answers a new topic's broker gives while its metadata spreads; kafkajs marks most, not all, retriable. */
const TRANSIENT =
  /does not host this topic-partition|leader not available|not the leader|unknown topic|no leader|coordinator (is )?(not available|loading)|not coordinator|metadata|ECONNREFUSED|ECONNRESET|timed? ?out/i;

export function isTransient(err: unknown): boolean {
  if ((err as { retriable?: boolean }).retriable) return true;
  const type = (err as { type?: string }).type;
  if (type && ['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'NOT_LEADER_OR_FOLLOWER'].includes(type)) return true;
  return TRANSIENT.test(errorMessage(err));
}

/** Retries transient broker answers with backoff for up to `timeoutMs`; the final error names `what`. */
export async function retryTransient<T>(what: string, fn: () => Promise<T>, timeoutMs = TOPIC_READY_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || Date.now() >= deadline) {
        const gaveUp = isTransient(err) ? ` (still failing after ${timeoutMs} ms)` : '';
        throw new Error(`${what}: ${errorMessage(err)}${gaveUp}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** i, 2_000, Math.max(0, deadline - Date.now()))));
    }
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
