import { TopologyError } from '../core/errors';
import type { AnyProcessorSpec } from '../core/processor';
import { RECORD_TYPE_NAMES } from '../schemas/catalog';
import type { Topology } from './topology';

export type ProcessorLookup = (kind: string) => AnyProcessorSpec | undefined;

/**
 * Checks that a topology holds together: every topic is declared once with a known type,
 * every node's processor exists, its input and output topics carry the record types the
 * processor declares, every declared port is wired, node configs pass their schemas, and
 * no topic dangles (read but never written, or written but never read). Throws a
 * TopologyError listing every problem; returns the parsed node configs.
 */
export function validateTopology(topology: Topology, lookup: ProcessorLookup): Map<string, unknown> {
  const problems: string[] = [];
  const configs = new Map<string, unknown>();
  const topics = new Map<string, Topology['topics'][number]>();
  for (const t of topology.topics) {
    if (topics.has(t.name)) problems.push(`topic '${t.name}' is declared twice`);
    topics.set(t.name, t);
    if (!RECORD_TYPE_NAMES.includes(t.type)) problems.push(`topic '${t.name}' has unknown record type '${t.type}'`);
    if (!Number.isInteger(t.partitions) || t.partitions < 1) problems.push(`topic '${t.name}' needs partitions >= 1`);
  }
  const dlq = topics.get(topology.deadLetterTopic);
  if (!dlq) problems.push(`dead-letter topic '${topology.deadLetterTopic}' is not declared`);
  else if (dlq.type !== 'DeadLetter') problems.push(`dead-letter topic '${dlq.name}' carries ${dlq.type}, not DeadLetter`);

  const written = new Set<string>();
  const read = new Set<string>();
  const names = new Set<string>();
  const changelogs = new Map<string, string>();
  for (const node of topology.nodes) {
    const where = `node '${node.name}'`;
    if (names.has(node.name)) problems.push(`${where} is declared twice`);
    names.add(node.name);
    const spec = lookup(node.processor);
    read.add(node.input);
    if (!spec) {
      problems.push(`${where} uses unknown processor '${node.processor}'`);
      continue;
    }
    const input = topics.get(node.input);
    if (!input) problems.push(`${where} reads undeclared topic '${node.input}'`);
    else if (input.type !== spec.input) {
      problems.push(`${where} (${spec.kind}) reads ${spec.input} but topic '${input.name}' carries ${input.type}`);
    }
    for (const [port, type] of Object.entries(spec.outputs)) {
      const topicName = node.outputs[port];
      if (!topicName) {
        problems.push(`${where} leaves output port '${port}' (${type}) unwired`);
        continue;
      }
      written.add(topicName);
      const out = topics.get(topicName);
      if (!out) problems.push(`${where} port '${port}' writes undeclared topic '${topicName}'`);
      else if (out.type !== type) {
        problems.push(`${where} port '${port}' writes ${type} but topic '${topicName}' carries ${out.type}`);
      }
    }
    for (const port of Object.keys(node.outputs)) {
      if (!(port in spec.outputs)) {
        problems.push(`${where} wires port '${port}', which ${spec.kind} does not have (ports: ${Object.keys(spec.outputs).join(', ')})`);
      }
    }
    if (spec.state) {
      const name = node.changelog;
      if (!name) problems.push(`${where} (${spec.kind}) keeps keyed state and needs a 'changelog' topic`);
      else {
        written.add(name);
        read.add(name);
        if (changelogs.has(name)) problems.push(`${where} shares changelog topic '${name}' with node '${changelogs.get(name)}'`);
        changelogs.set(name, node.name);
        const cl = topics.get(name);
        if (!cl) problems.push(`${where} changelog '${name}' is not declared`);
        else {
          if (cl.type !== spec.state.type) problems.push(`${where} changelog '${name}' carries ${cl.type}, not ${spec.state.type}`);
          if (!cl.compacted) problems.push(`${where} changelog '${name}' must be compacted (it holds the latest state per key)`);
          // State is split by input partition and lives in the same partition number.
          if (input && cl.partitions !== input.partitions) {
            problems.push(`${where} changelog '${name}' has ${cl.partitions} partitions but input '${input.name}' has ${input.partitions}`);
          }
        }
      }
    } else if (node.changelog) {
      problems.push(`${where} names changelog '${node.changelog}' but ${spec.kind} keeps no keyed state`);
    }
    const parsed = spec.config.safeParse(node.config ?? {});
    if (parsed.success) configs.set(node.name, parsed.data);
    else {
      for (const issue of parsed.error.issues) {
        problems.push(`${where} config${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`);
      }
    }
  }
  for (const t of topology.topics) {
    if (t.name === topology.deadLetterTopic) continue;
    if (read.has(t.name) && !written.has(t.name) && !t.source) {
      problems.push(`topic '${t.name}' is read but nothing writes it (mark it source if it is fed from outside)`);
    }
    if (written.has(t.name) && !read.has(t.name) && !t.sink) {
      problems.push(`topic '${t.name}' is written but nothing reads it (mark it sink if it is read from outside)`);
    }
    if (!read.has(t.name) && !written.has(t.name) && !t.source && !t.sink) {
      problems.push(`topic '${t.name}' is not connected to any node`);
    }
  }
  if (problems.length) throw new TopologyError(problems);
  return configs;
}
