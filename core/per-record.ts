import { asyncScheduler, catchError, defer, from, last, map, mergeMap, Observable, of, SchedulerLike } from 'rxjs';
import type { Emit, Failure, InputRecord, Outcome, ProcessorOperator } from './processor';
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
export function perRecord<I>(fn: (record: InputRecord<I>) => Promise<Emit[]> | Emit[], opts: PerRecordOptions = {}): ProcessorOperator<I> {
  // fn runs a microtask after each subscription, so a synchronous throw is a failed attempt too.
  return perRecordWork<I>((record) => defer(() => from(Promise.resolve().then(() => fn(record)))), opts);
}

/**
 * The operator behind perRecord, for work given as an Observable that is subscribed once
 * per attempt; its last value is the record's outputs. Nothing hops through a promise
 * here, so marble tests on virtual time see every step: admission, retries, outcomes.
 */
export function perRecordWork<I>(work: (record: InputRecord<I>) => Observable<Emit[]>, opts: PerRecordOptions = {}): ProcessorOperator<I> {
  const policy = opts.retry ?? DEFAULT_RETRY;
  const scheduler = opts.scheduler ?? asyncScheduler;
  return (input$) =>
    input$.pipe(
      mergeMap(
        (record) =>
          // last(): work that emits twice still yields one outcome; one that emits nothing fails.
          withRetry(() => work(record).pipe(last()), policy, scheduler).pipe(
            map((outputs): Outcome<I> => ({ input: record, outputs })),
            catchError((err: unknown) => of<Outcome<I>>({ input: record, outputs: [], failure: failureOf(err) })),
          ),
        opts.concurrency ?? 16,
      ),
    );
}

/** The Failure of work that failed for good: withRetry reports its attempts; anything else made one. */
export function failureOf(err: unknown): Failure {
  const exhausted = err instanceof AttemptsExhausted ? err : new AttemptsExhausted(err, 1);
  return { error: exhausted.lastError, attempts: exhausted.attempts };
}
