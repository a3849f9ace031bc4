"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.deadLetterRecord = deadLetterRecord;
exports.deadLetterKey = deadLetterKey;
// The dead-letter record for a message a node or sink could not handle: why, where it came
// from, and its original bytes, so it can be inspected and replayed.
const errors_1 = require("../../core/errors");
const ids_1 = require("../../core/ids");
function deadLetterRecord(node, m, error, attempts, now) {
    return {
        id: (0, ids_1.deterministicId)('dl', node, m.topic, m.partition, m.offset),
        node,
        reason: (0, errors_1.errorMessage)(error),
        errorClass: (0, errors_1.errorClass)(error),
        retriable: (0, errors_1.isRetriable)(error),
        attempts,
        source: { topic: m.topic, partition: m.partition, offset: Number(m.offset), timestamp: m.timestamp, key: m.key },
        payload: m.value,
        failedAt: now,
    };
}
/** The key a dead letter is written under: the original key, else its coordinates. */
function deadLetterKey(m) {
    return m.key ? m.key.toString('utf8') : `${m.topic}/${m.partition}/${m.offset}`;
}
//# sourceMappingURL=dead-letter.js.map