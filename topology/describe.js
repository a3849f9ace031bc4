"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.describeText = describeText;
exports.describeMermaid = describeMermaid;
/** A plain-text listing: topics with types, then each node's input -> outputs. */
function describeText(topology, lookup) {
    const lines = [`topology ${topology.name}`, '', 'topics:'];
    const width = Math.max(...topology.topics.map((t) => t.name.length));
    for (const t of topology.topics) {
        const role = [t.source && 'source', t.sink && 'sink', t.name === topology.deadLetterTopic && 'dead letters']
            .filter(Boolean)
            .join(', ');
        lines.push(`  ${t.name.padEnd(width)}  ${t.type} x${t.partitions}${role ? `  (${role})` : ''}`);
    }
    lines.push('', 'nodes:');
    for (const n of topology.nodes) {
        const spec = lookup(n.processor);
        lines.push(`  ${n.name} [${n.processor}]${spec ? ` - ${spec.description}` : ''}`);
        lines.push(`    in:  ${n.input}`);
        for (const [port, topic] of Object.entries(n.outputs))
            lines.push(`    out: ${port} -> ${topic}`);
        lines.push(`    failures -> ${topology.deadLetterTopic}`);
    }
    return lines.join('\n') + '\n';
}
const mermaidId = (s) => s.replace(/[^a-zA-Z0-9_]/g, '_');
/** A mermaid flowchart: topics as rounded boxes, nodes as rectangles. */
function describeMermaid(topology) {
    const lines = ['flowchart LR'];
    for (const t of topology.topics)
        lines.push(`  ${mermaidId('t_' + t.name)}(["${t.name}<br/>${t.type}"])`);
    for (const n of topology.nodes) {
        lines.push(`  ${mermaidId('n_' + n.name)}["${n.name}<br/><i>${n.processor}</i>"]`);
        lines.push(`  ${mermaidId('t_' + n.input)} --> ${mermaidId('n_' + n.name)}`);
        for (const [port, topic] of Object.entries(n.outputs)) {
            lines.push(`  ${mermaidId('n_' + n.name)} -- ${port} --> ${mermaidId('t_' + topic)}`);
        }
        lines.push(`  ${mermaidId('n_' + n.name)} -. failures .-> ${mermaidId('t_' + topology.deadLetterTopic)}`);
    }
    return lines.join('\n') + '\n';
}
//# sourceMappingURL=describe.js.map