"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.sinksConfig = exports.rewardSinkConfig = exports.odvgSinkConfig = void 0;
// Sink settings (app config `sinks`), validated with zod like the rest of the config.
const zod_1 = require("zod");
const image_intake_1 = require("../../models/images/image-intake");
const shard_writer_1 = require("./shard-writer");
exports.odvgSinkConfig = zod_1.z
    .object({
    /** Dataset root: images/, shards/, label_map.json, labels.txt, dataset.json. */
    dir: zod_1.z.string().min(1).default('out/odvg'),
    /** od: detection records with label ids; vg: grounding records (never with empty regions). */
    mode: zod_1.z.enum(['od', 'vg']).default('od'),
    /** OD mode: write images whose boxes were all rejected, as background-only samples. */
    keepNegativeOnly: zod_1.z.boolean().default(true),
    /** Single-partition topic that orders categories (ids = order of first appearance). */
    labelTopic: zod_1.z.string().min(1).default('valor.labels'),
    rotation: shard_writer_1.shardRotationSchema.prefault({}),
    images: image_intake_1.imageIntakeConfig.prefault({}),
})
    .strict();
exports.rewardSinkConfig = zod_1.z
    .object({
    dir: zod_1.z.string().min(1).default('out/rewards'),
    rotation: shard_writer_1.shardRotationSchema.prefault({}),
})
    .strict();
exports.sinksConfig = zod_1.z
    .object({ odvg: exports.odvgSinkConfig.prefault({}), rewards: exports.rewardSinkConfig.prefault({}) })
    .strict();
//# sourceMappingURL=sink-config.js.map