import type { Origin } from './processor';
import { VERSION } from './version';

export interface Lineage {
  parents: string[];
  producedBy: string;
  producerVersion: string;
  versions: { [k: string]: string };
  source: null | { topic: string; partition: number; offset: number };
}

/** Lineage for a record made by `node` from `parents`, read at `origin`. */
export function lineageOf(node: string, parents: string[], versions: Record<string, string> = {}, origin?: Origin): Lineage {
  return {
    parents,
    producedBy: node,
    producerVersion: VERSION,
    versions,
    source: origin ? { topic: origin.topic, partition: origin.partition, offset: Number(origin.offset) } : null,
  };
}

/**
 * Where a replay's tag goes in its outputs' lineage (`lineage.versions`), so consumers and
 * sinks can tell a replay's records from the live pipeline's without a schema change.
 */
export const REPLAY_TAG_KEY = 'replay.tag';

/** `value` with `tag` added to its lineage; values without a lineage are returned as they are. */
export function withReplayTag<T>(value: T, tag: string): T {
  const lineage = (value as { lineage?: Lineage } | null)?.lineage;
  if (!lineage || typeof lineage !== 'object' || !lineage.versions) return value;
  return { ...value, lineage: { ...lineage, versions: { ...lineage.versions, [REPLAY_TAG_KEY]: tag } } };
}

/** The replay tag in a record's lineage, or null for a record of the live pipeline. */
export function replayTagOf(value: unknown): string | null {
  const versions = (value as { lineage?: { versions?: Record<string, string> } } | null)?.lineage?.versions;
  return versions?.[REPLAY_TAG_KEY] ?? null;
}
