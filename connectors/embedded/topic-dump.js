"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", { value: true });
exports.dumpTopics = dumpTopics;
const fs = __importStar(require("node:fs"));
const path = __importStar(require("node:path"));
/** JSON for a decoded Avro value: bytes become base64 so the dump stays one line each. */
function replacer(_k, v) {
    if (v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)) {
        return { base64: Buffer.from(v.data).toString('base64') };
    }
    return v;
}
/**
 * Writes every topic of an embedded run as `<dir>/<topic>.jsonl` (decoded values), written
 * to a temp file then renamed so a reader never sees half a file.
 */
async function dumpTopics(runtime, dir) {
    fs.mkdirSync(dir, { recursive: true });
    const counts = {};
    for (const t of runtime.topology.topics) {
        const records = await runtime.read(t.name);
        const file = path.join(dir, `${t.name}.jsonl`);
        const tmp = `${file}.tmp`;
        fs.writeFileSync(tmp, records.map((r) => JSON.stringify({ key: r.key, partition: r.partition, offset: r.offset, value: r.value }, replacer)).join('\n') + (records.length ? '\n' : ''));
        fs.renameSync(tmp, file);
        counts[t.name] = records.length;
    }
    return counts;
}
//# sourceMappingURL=topic-dump.js.map