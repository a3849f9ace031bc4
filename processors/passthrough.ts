import { z } from 'zod';
import { ValidationError } from '../core/errors';
import { perRecord } from '../core/per-record';
import { defineProcessor } from '../core/processor';
import { retryPolicySchema } from '../core/retry';
import { DEFAULT_TEXT_LIMITS, queryTextProblems, TextLimits, textLimitsSchema } from '../core/text-limits';
import type { ImageQuery } from '../schemas/generated/types';

export const passthroughConfig = z
  .object({
    concurrency: z.number().int().min(1).max(1024).default(64),
    retry: retryPolicySchema.default(retryPolicySchema.parse({})),
    /** Text limits of the queries (see core/text-limits.ts for the defaults and why). */
    limits: textLimitsSchema.prefault({}),
  })
  .strict();

/**
 * The checks every image query must pass before any stage spends money on it, including
 * the text limits: events other clients produce to Kafka never went through the corpus
 * reader. `limitsKey` is where `limits` are configured, for the message.
 */
export function checkImageQuery(q: ImageQuery, limits: TextLimits = DEFAULT_TEXT_LIMITS, limitsKey = 'limits'): void {
  const problems: string[] = [];
  if (!q.id.trim()) problems.push('id is empty');
  if (!q.question.trim()) problems.push('question is empty');
  if (!q.image.uri && !q.image.bytes) problems.push('image has neither uri nor bytes');
  if (q.phrases.some((p) => !p.trim())) problems.push('phrases contains an empty phrase');
  problems.push(...queryTextProblems(q, limits, limitsKey));
  if (problems.length) throw new ValidationError(`image query '${q.id}': ${problems.join('; ')}`);
}

/**
 * Forwards image queries unchanged, key included, after checking them: mirrors a corpus
 * topic, gates what enters the pipeline, and is the baseline node of the benchmarks.
 */
export const passthrough = defineProcessor({
  kind: 'passthrough',
  description: 'checks image queries and forwards them unchanged',
  input: 'ImageQuery',
  outputs: { out: 'ImageQuery' },
  config: passthroughConfig,
  create: (config, ctx) =>
    perRecord<ImageQuery>(
      (rec) => {
        checkImageQuery(rec.value, config.limits, `nodes.${ctx.node}.limits`);
        return [{ port: 'out', key: rec.key ?? rec.value.id, value: rec.value }];
      },
      { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler },
    ),
});
