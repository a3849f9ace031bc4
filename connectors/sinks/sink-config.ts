// Sink settings (app config `sinks`), validated with zod like the rest of the config.
import { z } from 'zod';
import { imageIntakeConfig } from '../../models/images/image-intake';
import { shardRotationSchema } from './shard-writer';

export const odvgSinkConfig = z
  .object({
    /** Dataset root: images/, shards/, label_map.json, labels.txt, dataset.json. */
    dir: z.string().min(1).default('out/odvg'),
    /** od: detection records with label ids; vg: grounding records (never with empty regions). */
    mode: z.enum(['od', 'vg']).default('od'),
    /** OD mode: write images whose boxes were all rejected, as background-only samples. */
    keepNegativeOnly: z.boolean().default(true),
    /** Single-partition topic that orders categories (ids = order of first appearance). */
    labelTopic: z.string().min(1).default('valor.labels'),
    rotation: shardRotationSchema.prefault({}),
    images: imageIntakeConfig.prefault({}),
  })
  .strict();
export type OdvgSinkConfig = z.infer<typeof odvgSinkConfig>;

export const rewardSinkConfig = z
  .object({
    dir: z.string().min(1).default('out/rewards'),
    rotation: shardRotationSchema.prefault({}),
  })
  .strict();
export type RewardSinkConfig = z.infer<typeof rewardSinkConfig>;

export const sinksConfig = z.object({ odvg: odvgSinkConfig.prefault({}), rewards: rewardSinkConfig.prefault({}) }).strict();
