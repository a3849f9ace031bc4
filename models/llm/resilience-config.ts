// The config of a ResilientProvider: concurrency, RPM/TPM buckets, per-attempt timeout,
// attempts, backoff and circuit breaker.
import { z } from 'zod';

export const resilienceConfig = z
  .object({
    /** Calls in flight at once through this provider (all stages and records). */
    concurrency: z.number().int().min(1).max(100_000).default(32),
    /** Requests per minute; unset = unlimited. */
    requestsPerMinute: z.number().positive().optional(),
    /** Input + output tokens per minute; unset = unlimited. */
    tokensPerMinute: z.number().positive().optional(),
    /** Per attempt; the call is aborted and retried as a timeout. */
    timeoutMs: z.number().int().min(1).default(60_000),
    /** Attempts per call, counted only while the breaker is closed. */
    maxAttempts: z.number().int().min(1).default(8),
    /** Output tokens assumed for the TPM estimate when a request sets no maxOutputTokens. */
    defaultOutputTokens: z.number().int().min(0).default(1024),
    backoff: z
      .object({
        initialDelayMs: z.number().min(0).default(500),
        maxDelayMs: z.number().min(0).default(30_000),
        multiplier: z.number().min(1).default(2),
        /** Fraction of each delay drawn at random, so retries of many calls do not align. */
        jitter: z.number().min(0).max(1).default(0.2),
      })
      .strict()
      .refine((b) => b.maxDelayMs >= b.initialDelayMs, { message: 'backoff.maxDelayMs must be >= backoff.initialDelayMs', path: ['maxDelayMs'] })
      .prefault({}),
    breaker: z
      .object({
        /** Consecutive server/timeout/network failures that open the breaker. */
        failureThreshold: z.number().int().min(1).default(5),
        cooldownMs: z.number().int().min(0).default(30_000),
        /** Cap of the cooldown, which doubles on each failed probe. */
        maxCooldownMs: z.number().int().min(0).default(300_000),
      })
      .strict()
      .refine((b) => b.maxCooldownMs >= b.cooldownMs, { message: 'breaker.maxCooldownMs must be >= breaker.cooldownMs', path: ['maxCooldownMs'] })
      .prefault({}),
  })
  .strict();
export type ResilienceConfig = z.infer<typeof resilienceConfig>;
export type ResilienceConfigInput = z.input<typeof resilienceConfig>;
