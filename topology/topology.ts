// A topology is data: topics with their record types, and nodes (processor instances)
// reading one topic and writing named ports to topics. The same value runs on the
// embedded log and on Kafka, and can be validated and described without running it.
import type { RecordTypeName } from '../schemas/catalog';

export interface TopicSpec {
  name: string;
  type: RecordTypeName;
  partitions: number;
  /** Written from outside the topology (a corpus producer, a trainer). */
  source?: boolean;
  /** Read from outside the topology (sinks, trainers). */
  sink?: boolean;
  compacted?: boolean;
}

export interface NodeSpec {
  name: string;
  /** Processor kind from the registry (processors/index.ts). */
  processor: string;
  input: string;
  /** Output port -> topic. */
  outputs: Record<string, string>;
  /** Compacted topic holding the node's keyed state (processors that declare `state`). */
  changelog?: string;
  config?: unknown;
}

export interface Topology {
  name: string;
  topics: TopicSpec[];
  nodes: NodeSpec[];
  deadLetterTopic: string;
}

export function topicByName(topology: Topology, name: string): TopicSpec {
  const t = topology.topics.find((x) => x.name === name);
  if (!t) throw new Error(`topology '${topology.name}' has no topic '${name}'`);
  return t;
}

export function nodeByName(topology: Topology, name: string): NodeSpec {
  const n = topology.nodes.find((x) => x.name === name);
  if (!n) {
    throw new Error(`topology '${topology.name}' has no node '${name}'; nodes: ${topology.nodes.map((x) => x.name).join(', ')}`);
  }
  return n;
}

/**
 * The nodes that records written to `topic` reach, in topology order: what a run fed only
 * from that topic needs to start (and whose credentials it needs; no others).
 */
export function nodesDownstreamOf(topology: Topology, topic: string): string[] {
  const reached = new Set<string>([topic]);
  const nodes = new Set<string>();
  for (let grew = true; grew;) {
    grew = false;
    for (const n of topology.nodes) {
      if (nodes.has(n.name) || !reached.has(n.input)) continue;
      nodes.add(n.name);
      for (const out of Object.values(n.outputs)) reached.add(out);
      grew = true;
    }
  }
  return topology.nodes.filter((n) => nodes.has(n.name)).map((n) => n.name);
}
