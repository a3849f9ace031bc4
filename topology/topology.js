"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.topicByName = topicByName;
exports.nodeByName = nodeByName;
function topicByName(topology, name) {
    const t = topology.topics.find((x) => x.name === name);
    if (!t)
        throw new Error(`topology '${topology.name}' has no topic '${name}'`);
    return t;
}
function nodeByName(topology, name) {
    const n = topology.nodes.find((x) => x.name === name);
    if (!n) {
        throw new Error(`topology '${topology.name}' has no node '${name}'; nodes: ${topology.nodes.map((x) => x.name).join(', ')}`);
    }
    return n;
}
//# sourceMappingURL=topology.js.map