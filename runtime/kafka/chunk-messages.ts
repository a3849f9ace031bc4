// What the node runner hands between kafkajs and the node worker, and the one error that
// says a chunk must not be processed.
import type { KafkaMessage } from 'kafkajs';
import type { OutMessage, RawMessage } from '../node-worker';

/** A chunk that would start below the partition's committed offset, or unverified: never processed. */
export class StaleStart extends Error {
  constructor(
    readonly partition: number,
    readonly offset: string,
    readonly floor: bigint | undefined,
  ) {
    super(`partition ${partition}: chunk at ${offset} ${floor === undefined ? 'has no verified start' : `is below the committed offset ${floor}`}`);
  }
}

export function toRaw(topic: string, partition: number, m: KafkaMessage): RawMessage {
  return { topic, partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null, timestamp: Number(m.timestamp) };
}

type OutKafkaMessage = { key: string; value: Buffer | null; partition?: number };

export function groupByTopic(out: OutMessage[]): Array<{ topic: string; messages: OutKafkaMessage[] }> {
  const by = new Map<string, OutKafkaMessage[]>();
  for (const m of out) {
    let list = by.get(m.topic);
    if (!list) by.set(m.topic, (list = []));
    list.push(m.partition === undefined ? { key: m.key, value: m.value } : { key: m.key, value: m.value, partition: m.partition });
  }
  return [...by].map(([topic, messages]) => ({ topic, messages }));
}
