import { catchError, defer, from, map, mergeMap, of, SchedulerLike, asyncScheduler } from 'rxjs';
import type { Emit, InputRecord, Outcome, ProcessorOperator } from './processor';
import { AttemptsExhausted, DEFAULT_RETRY, RetryPolicy, withRetry } from './retry';

export interface PerRecordOptions {
  /** How many records may be in work at once (bounded in-flight work per node). */
  concurrency?: number;
  retry?: RetryPolicy;
  scheduler?: SchedulerLike;
}

/**
 * Builds a processor operator from a per-record function: bounded concurrency, retries
 * with backoff for retriable errors, and exactly one Outcome per input. A record whose
 * work fails for good becomes a failure outcome (then a dead letter), and the stream goes on.
 */
export function perRecord<I>(
  fn: (record: InputRecord<I>) => Promise<Emit[]> | Emit[],
  opts: PerRecordOptions = {},
): ProcessorOperator<I> {
  const policy = opts.retry ?? DEFAULT_RETRY;
  const scheduler = opts.scheduler ?? asyncScheduler;
  return (input$) =>
    input$.pipe(
      mergeMap(
        (record) =>
          withRetry(() => defer(() => from(Promise.resolve().then(() => fn(record)))), policy, scheduler).pipe(
            map((outputs): Outcome<I> => ({ input: record, outputs })),
            catchError((err: unknown) => {
              const exhausted = err instanceof AttemptsExhausted ? err : new AttemptsExhausted(err, 1);
              return of<Outcome<I>>({
                input: record,
                outputs: [],
                failure: { error: exhausted.lastError, attempts: exhausted.attempts },
              });
            }),
          ),
        opts.concurrency ?? 16,
      ),
    );
}
