"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.kafkaRuntimeSchema = exports.deliverySchema = exports.kafkaConnectionSchema = void 0;
const zod_1 = require("zod");
exports.kafkaConnectionSchema = zod_1.z
    .object({
    brokers: zod_1.z.array(zod_1.z.string().regex(/^[^:\s]+:\d+$/, 'host:port')).min(1),
    clientId: zod_1.z.string().default('valor-stream'),
    ssl: zod_1.z.boolean().default(false),
    sasl: zod_1.z
        .object({
        mechanism: zod_1.z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: zod_1.z.string(),
        password: zod_1.z.string(),
    })
        .optional(),
    connectionTimeoutMs: zod_1.z.number().int().positive().default(10_000),
    requestTimeoutMs: zod_1.z.number().int().positive().default(30_000),
})
    .strict();
exports.deliverySchema = zod_1.z.enum(['exactly-once', 'at-least-once']);
exports.kafkaRuntimeSchema = zod_1.z
    .object({
    /** exactly-once: outputs and input offsets commit in one transaction per chunk. */
    delivery: exports.deliverySchema.default('exactly-once'),
    /** Consumer groups are `<groupPrefix>.<node>`; a replay uses a new prefix. */
    groupPrefix: zod_1.z.string().min(1).default('valor'),
    /** Most records of one partition in work at once; also the transaction size. */
    maxInFlight: zod_1.z.number().int().min(1).max(100_000).default(500),
    partitionsConsumedConcurrently: zod_1.z.number().int().min(1).max(256).default(4),
    sessionTimeoutMs: zod_1.z.number().int().min(6_000).default(30_000),
    heartbeatIntervalMs: zod_1.z.number().int().min(100).default(3_000),
    transactionTimeoutMs: zod_1.z.number().int().min(1_000).default(60_000),
    /** Where a new group starts: the earliest retained record, or only new ones. */
    fromBeginning: zod_1.z.boolean().default(true),
})
    .strict();
//# sourceMappingURL=kafka-config.js.map