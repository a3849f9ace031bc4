// The dead-letter record for a message a node or sink could not handle: why, where it came
// from, and its original bytes, so it can be inspected and replayed.
import { errorClass, errorMessage, isRetriable } from '../core/errors';
import { deterministicId } from '../core/ids';
import type { DeadLetter } from '../schemas/generated/types';

export function deadLetterRecord(
  node: string,
  m: { topic: string; partition: number; offset: string; timestamp: number; key: Buffer | null; value: Buffer | null },
  error: unknown,
  attempts: number,
  now: number,
): DeadLetter {
  return {
    id: deterministicId('dl', node, m.topic, m.partition, m.offset),
    node,
    reason: errorMessage(error),
    errorClass: errorClass(error),
    retriable: isRetriable(error),
    attempts,
    source: { topic: m.topic, partition: m.partition, offset: Number(m.offset), timestamp: m.timestamp, key: m.key },
    payload: m.value,
    failedAt: now,
  };
}

/** The key a dead letter is written under: the original key, else its coordinates. */
export function deadLetterKey(m: { topic: string; partition: number; offset: string; key: Buffer | null }): string {
  return m.key ? m.key.toString('utf8') : `${m.topic}/${m.partition}/${m.offset}`;
}
