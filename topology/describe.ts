import type { ProcessorLookup } from './validate';
import type { Topology } from './topology';

/** A plain-text listing: topics with types, then each node's input -> outputs. */
export function describeText(topology: Topology, lookup: ProcessorLookup): string {
  const lines = [`topology ${topology.name}`, '', 'topics:'];
  const width = Math.max(...topology.topics.map((t) => t.name.length));
  for (const t of topology.topics) {
    const role = [t.source && 'source', t.sink && 'sink', t.compacted && 'compacted', t.name === topology.deadLetterTopic && 'dead letters']
      .filter(Boolean)
      .join(', ');
    lines.push(`  ${t.name.padEnd(width)}  ${t.type} x${t.partitions}${role ? `  (${role})` : ''}`);
  }
  lines.push('', 'nodes:');
  for (const n of topology.nodes) {
    const spec = lookup(n.processor);
    lines.push(`  ${n.name} [${n.processor}]${spec ? ` - ${spec.description}` : ''}`);
    lines.push(`    in:  ${n.input}`);
    for (const [port, topic] of Object.entries(n.outputs)) lines.push(`    out: ${port} -> ${topic}`);
    if (n.changelog) lines.push(`    state <-> ${n.changelog}`);
    lines.push(`    failures -> ${topology.deadLetterTopic}`);
  }
  return lines.join('\n') + '\n';
}

const mermaidId = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, '_');

/** A mermaid flowchart: topics as rounded boxes, nodes as rectangles. */
export function describeMermaid(topology: Topology): string {
  const lines = ['flowchart LR'];
  for (const t of topology.topics) lines.push(`  ${mermaidId('t_' + t.name)}(["${t.name}<br/>${t.type}"])`);
  for (const n of topology.nodes) {
    lines.push(`  ${mermaidId('n_' + n.name)}["${n.name}<br/><i>${n.processor}</i>"]`);
    lines.push(`  ${mermaidId('t_' + n.input)} --> ${mermaidId('n_' + n.name)}`);
    for (const [port, topic] of Object.entries(n.outputs)) {
      lines.push(`  ${mermaidId('n_' + n.name)} -- ${port} --> ${mermaidId('t_' + topic)}`);
    }
    if (n.changelog) lines.push(`  ${mermaidId('n_' + n.name)} -. state .-> ${mermaidId('t_' + n.changelog)}`);
    lines.push(`  ${mermaidId('n_' + n.name)} -. failures .-> ${mermaidId('t_' + topology.deadLetterTopic)}`);
  }
  return lines.join('\n') + '\n';
}
