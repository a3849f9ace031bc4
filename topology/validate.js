"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.validateTopology = validateTopology;
const errors_1 = require("../core/errors");
const catalog_1 = require("../schemas/catalog");
/**
 * Checks that a topology holds together: every topic is declared once with a known type,
 * every node's processor exists, its input and output topics carry the record types the
 * processor declares, every declared port is wired, node configs pass their schemas, and
 * no topic dangles (read but never written, or written but never read). Throws a
 * TopologyError listing every problem; returns the parsed node configs.
 */
function validateTopology(topology, lookup) {
    const problems = [];
    const configs = new Map();
    const topics = new Map();
    for (const t of topology.topics) {
        if (topics.has(t.name))
            problems.push(`topic '${t.name}' is declared twice`);
        topics.set(t.name, t);
        if (!catalog_1.RECORD_TYPE_NAMES.includes(t.type))
            problems.push(`topic '${t.name}' has unknown record type '${t.type}'`);
        if (!Number.isInteger(t.partitions) || t.partitions < 1)
            problems.push(`topic '${t.name}' needs partitions >= 1`);
    }
    const dlq = topics.get(topology.deadLetterTopic);
    if (!dlq)
        problems.push(`dead-letter topic '${topology.deadLetterTopic}' is not declared`);
    else if (dlq.type !== 'DeadLetter')
        problems.push(`dead-letter topic '${dlq.name}' carries ${dlq.type}, not DeadLetter`);
    const written = new Set();
    const read = new Set();
    const names = new Set();
    for (const node of topology.nodes) {
        const where = `node '${node.name}'`;
        if (names.has(node.name))
            problems.push(`${where} is declared twice`);
        names.add(node.name);
        const spec = lookup(node.processor);
        read.add(node.input);
        if (!spec) {
            problems.push(`${where} uses unknown processor '${node.processor}'`);
            continue;
        }
        const input = topics.get(node.input);
        if (!input)
            problems.push(`${where} reads undeclared topic '${node.input}'`);
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
            if (!out)
                problems.push(`${where} port '${port}' writes undeclared topic '${topicName}'`);
            else if (out.type !== type) {
                problems.push(`${where} port '${port}' writes ${type} but topic '${topicName}' carries ${out.type}`);
            }
        }
        for (const port of Object.keys(node.outputs)) {
            if (!(port in spec.outputs)) {
                problems.push(`${where} wires port '${port}', which ${spec.kind} does not have (ports: ${Object.keys(spec.outputs).join(', ')})`);
            }
        }
        const parsed = spec.config.safeParse(node.config ?? {});
        if (parsed.success)
            configs.set(node.name, parsed.data);
        else {
            for (const issue of parsed.error.issues) {
                problems.push(`${where} config${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`);
            }
        }
    }
    for (const t of topology.topics) {
        if (t.name === topology.deadLetterTopic)
            continue;
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
    if (problems.length)
        throw new errors_1.TopologyError(problems);
    return configs;
}
//# sourceMappingURL=validate.js.map