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
exports.ENV_OVERRIDES = exports.appConfigSchema = void 0;
exports.formatIssues = formatIssues;
exports.loadConfig = loadConfig;
// Application config, validated at the boundary: a JSON file, then environment
// variables, then CLI flags. Every error names the field that is wrong.
const fs = __importStar(require("node:fs"));
const zod_1 = require("zod");
const errors_1 = require("./errors");
const kafka_config_1 = require("../connectors/kafka/kafka-config");
const topics_1 = require("../topology/topics");
const sink_config_1 = require("../connectors/sinks/sink-config");
exports.appConfigSchema = zod_1.z
    .object({
    runtime: zod_1.z.enum(['embedded', 'kafka']).default('embedded'),
    topology: zod_1.z.enum(['valor', 'passthrough']).default('valor'),
    partitions: zod_1.z.number().int().min(1).max(10_000).default(4),
    topics: topics_1.topicNamesSchema,
    kafka: kafka_config_1.kafkaConnectionSchema.prefault({ brokers: ['127.0.0.1:39092'] }),
    registry: zod_1.z
        .object({
        url: zod_1.z.string().url().default('http://127.0.0.1:38081/apis/ccompat/v7'),
        username: zod_1.z.string().optional(),
        password: zod_1.z.string().optional(),
    })
        .strict()
        .prefault({}),
    delivery: kafka_config_1.kafkaRuntimeSchema.prefault({}),
    /** Per-node processor config, by node name. */
    nodes: zod_1.z.record(zod_1.z.string(), zod_1.z.unknown()).default({}),
    /** Where the embedded runtime writes topic dumps and the sinks write shards. */
    outputDir: zod_1.z.string().default('out'),
    /** File sinks: ODVG training shards and reward records. */
    sinks: sink_config_1.sinksConfig.prefault({}),
    /** Processor state (the verdict cache): files under `dir` when embedded, compacted topics on Kafka. */
    stores: zod_1.z
        .object({
        dir: zod_1.z.string().min(1).default('.valor/state'),
        topicPrefix: zod_1.z.string().min(1).default('valor.store.'),
    })
        .strict()
        .prefault({}),
})
    .strict();
function formatIssues(error, prefix = '') {
    return error.issues
        .map((i) => `  - ${prefix}${i.path.length ? i.path.join('.') : '<root>'}: ${i.message}`)
        .join('\n');
}
function setPath(obj, path, value) {
    let o = obj;
    for (const k of path.slice(0, -1)) {
        if (typeof o[k] !== 'object' || o[k] === null)
            o[k] = {};
        o = o[k];
    }
    o[path[path.length - 1]] = value;
}
/** Environment variables that override config fields (set by `make kafka-up`). */
exports.ENV_OVERRIDES = {
    KAFKA_BOOTSTRAP: { path: ['kafka', 'brokers'], parse: (v) => v.split(',').map((s) => s.trim()).filter(Boolean) },
    SCHEMA_REGISTRY_URL: { path: ['registry', 'url'], parse: (v) => v },
    SCHEMA_REGISTRY_USERNAME: { path: ['registry', 'username'], parse: (v) => v },
    SCHEMA_REGISTRY_PASSWORD: { path: ['registry', 'password'], parse: (v) => v },
    VALOR_DELIVERY: { path: ['delivery', 'delivery'], parse: (v) => v },
    VALOR_GROUP_PREFIX: { path: ['delivery', 'groupPrefix'], parse: (v) => v },
};
function loadConfig(opts = {}) {
    let raw = {};
    if (opts.file) {
        let text;
        try {
            text = fs.readFileSync(opts.file, 'utf8');
        }
        catch (err) {
            throw new errors_1.ConfigError(`cannot read config file ${opts.file}: ${err.message}`);
        }
        try {
            raw = JSON.parse(text);
        }
        catch (err) {
            throw new errors_1.ConfigError(`config file ${opts.file} is not valid JSON: ${err.message}`);
        }
    }
    const env = opts.env ?? process.env;
    for (const [name, { path, parse }] of Object.entries(exports.ENV_OVERRIDES)) {
        const v = env[name];
        if (v)
            setPath(raw, path, parse(v));
    }
    for (const [path, value] of opts.overrides ?? [])
        if (value !== undefined)
            setPath(raw, path, value);
    const parsed = exports.appConfigSchema.safeParse(raw);
    if (!parsed.success) {
        throw new errors_1.ConfigError(`invalid configuration${opts.file ? ` (${opts.file})` : ''}:\n${formatIssues(parsed.error)}`);
    }
    return parsed.data;
}
//# sourceMappingURL=config.js.map