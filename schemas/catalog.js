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
exports.RECORD_TYPE_NAMES = exports.SCHEMA_FILES = void 0;
exports.schemaDir = schemaDir;
exports.loadSchema = loadSchema;
exports.invalidPaths = invalidPaths;
// The record types of the topology, loaded from schemas/*.avsc (the source of truth).
// Every topic carries exactly one of these types; `schemas/generated/types.ts` holds the
// matching TypeScript types, regenerated from the same files.
const fs = __importStar(require("node:fs"));
const path = __importStar(require("node:path"));
const avro = __importStar(require("avsc"));
/** Which .avsc file defines each record type (file name = default topic suffix). */
exports.SCHEMA_FILES = {
    ImageQuery: 'image-queries.avsc',
    DetectionRequest: 'detection-requests.avsc',
    DetectorProposals: 'detector-proposals.avsc',
    VerifierJudgement: 'verifier-judgements.avsc',
    PseudoLabel: 'pseudo-labels.avsc',
    ReasoningRollout: 'reasoning-rollouts.avsc',
    RewardRecord: 'reward-records.avsc',
    RewardGroup: 'reward-groups.avsc',
    DeadLetter: 'dead-letters.avsc',
};
exports.RECORD_TYPE_NAMES = Object.keys(exports.SCHEMA_FILES);
/** Directory of the .avsc files; works from source (ts) and from the compiled dist/ tree. */
function schemaDir() {
    for (const candidate of [__dirname, path.join(__dirname, '..', '..', 'schemas')]) {
        if (fs.existsSync(path.join(candidate, 'image-queries.avsc')))
            return candidate;
    }
    throw new Error(`cannot find schemas/*.avsc near ${__dirname}`);
}
const cache = new Map();
function loadSchema(name) {
    const hit = cache.get(name);
    if (hit)
        return hit;
    const file = exports.SCHEMA_FILES[name];
    if (!file)
        throw new Error(`unknown record type '${name}'; known: ${exports.RECORD_TYPE_NAMES.join(', ')}`);
    const json = fs.readFileSync(path.join(schemaDir(), file), 'utf8');
    const parsed = JSON.parse(json);
    const loaded = { name, file, json: JSON.stringify(parsed), type: avro.Type.forSchema(parsed) };
    cache.set(name, loaded);
    return loaded;
}
/** Validates a value against its Avro type; returns the paths of the invalid fields. */
function invalidPaths(name, value) {
    const paths = [];
    loadSchema(name).type.isValid(value, {
        errorHook: (p) => paths.push(p.join('.') || '<root>'),
    });
    return paths;
}
//# sourceMappingURL=catalog.js.map