import { z } from 'zod';

/** The broker `make kafka-up` starts; env KAFKA_BOOTSTRAP overrides it. */
export const DEFAULT_BROKERS: readonly string[] = ['127.0.0.1:39092'];

export const kafkaConnectionSchema = z
  .object({
    // Defaulted here, not only when the whole block is absent: a block with just `sasl` or
    // `ssl` must still get the documented broker.
    brokers: z
      .array(z.string().regex(/^[^:\s]+:\d+$/, 'host:port'))
      .min(1)
      .default(() => [...DEFAULT_BROKERS]),
    clientId: z.string().default('valor-stream'),
    ssl: z.boolean().default(false),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string(),
        password: z.string(),
      })
      .optional(),
    connectionTimeoutMs: z.number().int().positive().default(10_000),
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict();
export type KafkaConnection = z.infer<typeof kafkaConnectionSchema>;

export const deliverySchema = z.enum(['exactly-once', 'at-least-once']);
export type Delivery = z.infer<typeof deliverySchema>;

export const kafkaRuntimeSchema = z
  .object({
    /** exactly-once: outputs and input offsets commit in one transaction per chunk. */
    delivery: deliverySchema.default('exactly-once'),
    /** Consumer groups are `<groupPrefix>.<node>`; a replay uses a new prefix. */
    groupPrefix: z.string().min(1).default('valor'),
    /** Most records of one partition in work at once; also the transaction size. */
    maxInFlight: z.number().int().min(1).max(100_000).default(500),
    partitionsConsumedConcurrently: z.number().int().min(1).max(256).default(4),
    sessionTimeoutMs: z.number().int().min(6_000).default(30_000),
    heartbeatIntervalMs: z.number().int().min(100).default(3_000),
    transactionTimeoutMs: z.number().int().min(1_000).default(60_000),
    /** Where a new group starts: the earliest retained record, or only new ones. */
    fromBeginning: z.boolean().default(true),
  })
  .strict();
export type KafkaRuntimeConfig = z.infer<typeof kafkaRuntimeSchema>;
