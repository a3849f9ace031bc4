"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.lineageOf = lineageOf;
const version_1 = require("./version");
/** Lineage for a record made by `node` from `parents`, read at `origin`. */
function lineageOf(node, parents, versions = {}, origin) {
    return {
        parents,
        producedBy: node,
        producerVersion: version_1.VERSION,
        versions,
        source: origin ? { topic: origin.topic, partition: origin.partition, offset: Number(origin.offset) } : null,
    };
}
//# sourceMappingURL=lineage.js.map