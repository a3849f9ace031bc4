import { asyncScheduler, defer, Observable, retry, SchedulerLike, throwError, timer } from 'rxjs';
import { z } from 'zod';
import { isRetriable } from './errors';

export const retryPolicySchema = z.object({
  /** Total attempts including the first; 1 disables retries. */
  maxAttempts: z.number().int().min(1).default(3),
  initialDelayMs: z.number().min(0).default(200),
  maxDelayMs: z.number().min(0).default(10_000),
  multiplier: z.number().min(1).default(2),
  /** Fraction of each delay drawn at random, so retries of many records do not align. */
  jitter: z.number().min(0).max(1).default(0.2),
});
export type RetryPolicy = z.infer<typeof retryPolicySchema>;

export const DEFAULT_RETRY: RetryPolicy = retryPolicySchema.parse({});

export function backoffDelay(policy: RetryPolicy, retryNumber: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (retryNumber - 1));
  return base * (1 - policy.jitter) + base * policy.jitter * random();
}

/** An error after the last attempt, carrying how many attempts were made. */
export class AttemptsExhausted extends Error {
  constructor(
    readonly lastError: unknown,
    readonly attempts: number,
  ) {
    super(lastError instanceof Error ? lastError.message : String(lastError));
    this.name = 'AttemptsExhausted';
  }
}

/**
 * Runs `work` and re-subscribes on retriable errors with exponential backoff; time goes
 * through `scheduler` so marble tests can check the delays. Non-retriable errors fail at
 * once. The final error is wrapped in AttemptsExhausted with the attempt count.
 */
export function withRetry<T>(
  work: () => Observable<T> | Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  scheduler: SchedulerLike = asyncScheduler,
  random: () => number = Math.random,
  retriable: (err: unknown) => boolean = isRetriable,
): Observable<T> {
  return defer(() => {
    let attempts = 0;
    return defer(() => {
      attempts += 1;
      return work();
    }).pipe(
      retry({
        count: policy.maxAttempts - 1,
        delay: (err, retryCount) => (retriable(err) ? timer(backoffDelay(policy, retryCount, random), scheduler) : throwError(() => err)),
      }),
      (source) =>
        new Observable<T>((sub) =>
          source.subscribe({
            next: (v) => sub.next(v),
            complete: () => sub.complete(),
            error: (err) => sub.error(new AttemptsExhausted(err, attempts)),
          }),
        ),
    );
  });
}
