"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.sha256Hex = sha256Hex;
exports.deterministicId = deterministicId;
const node_crypto_1 = require("node:crypto");
function sha256Hex(data) {
    return (0, node_crypto_1.createHash)('sha256').update(data).digest('hex');
}
/**
 * A deterministic id from its parts. Outputs derived from the same input get the same id
 * on every run, which makes at-least-once delivery idempotent downstream and replays
 * comparable.
 */
function deterministicId(prefix, ...parts) {
    return `${prefix}-${sha256Hex(parts.join('\u0000')).slice(0, 24)}`;
}
//# sourceMappingURL=ids.js.map