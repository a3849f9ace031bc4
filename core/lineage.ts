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
