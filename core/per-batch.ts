import { asyncScheduler, bufferCount, catchError, forkJoin, from, isObservable, last, map, mergeMap, Observable, of, SchedulerLike } from 'rxjs';
import { failureOf } from './per-record';
import type { Emit, InputRecord, Outcome, ProcessorOperator } from './processor';
import { DEFAULT_RETRY, RetryPolicy, withRetry } from './retry';

/** What work may return: a value, a promise of it, or an Observable whose last value counts. */
export type Work<T> = T | Promise<T> | Observable<T>;

/** A record of a batch with what `prepare` made of it. */
export interface BatchItem<I, P> {
  record: InputRecord<I>;
  prepared: P;
}

export interface PerBatchOptions<I, P> {
  /** Records per batch; the last batch of a stream may be smaller. */
  size: number;
  /** Batches in work at once; 1 by default, as batched work (inference) tends to use the whole machine. */
  concurrency?: number;
  /** Retries of the batch work. */
  retry?: RetryPolicy;
  /** Per-record work before the batch runs (fetching an image, say); retried and failed per record. */
  prepare?: (record: InputRecord<I>) => Work<P>;
  /** Retries of `prepare`; `retry` if unset. */
  prepareRetry?: RetryPolicy;
  scheduler?: SchedulerLike;
}

/**
 * perRecord for work that runs on several records at once. Records are grouped into
 * batches of `size`; each record is prepared on its own (a record that fails for good
 * becomes a failure outcome and leaves the batch), then `run` gets the batch's prepared
 * records and returns each one's outputs, in order. Retriable errors are retried with the
 * same jittered backoff as perRecord, timed through the scheduler; when the batch work
 * fails for good, each of its records gets a failure outcome. Exactly one Outcome per
 * input, a batch's outcomes together and in input order.
 */
export function perBatch<I, P = undefined>(run: (items: Array<BatchItem<I, P>>) => Work<Emit[][]>, opts: PerBatchOptions<I, P>): ProcessorOperator<I> {
  const policy = opts.retry ?? DEFAULT_RETRY;
  const prepareRetry = opts.prepareRetry ?? policy;
  const scheduler = opts.scheduler ?? asyncScheduler;
  const prepare = opts.prepare;
  // work() is called inside withRetry's defer, so a synchronous throw is a failed attempt too.
  const attempt = <T>(work: () => Work<T>, p: RetryPolicy, check: (v: T) => T = (v) => v): Observable<T> =>
    withRetry(() => observe(work()).pipe(last(), map(check)), p, scheduler);

  type Prepared = { item: BatchItem<I, P> } | { failed: Outcome<I> };
  const prepareAll = (records: Array<InputRecord<I>>): Observable<Prepared[]> =>
    prepare
      ? forkJoin(
          records.map((record) =>
            attempt(() => prepare(record), prepareRetry).pipe(
              map((prepared): Prepared => ({ item: { record, prepared } })),
              catchError((err: unknown) => of<Prepared>({ failed: { input: record, outputs: [], failure: failureOf(err) } })),
            ),
          ),
        )
      : of(records.map((record): Prepared => ({ item: { record, prepared: undefined as P } })));

  const runBatch = (items: Array<BatchItem<I, P>>): Observable<Array<Outcome<I>>> =>
    attempt(
      () => run(items),
      policy,
      (outputs) => checkCount(outputs, items.length),
    ).pipe(
      map((outputs) => items.map((it, i): Outcome<I> => ({ input: it.record, outputs: outputs[i]! }))),
      catchError((err: unknown) => of(items.map((it): Outcome<I> => ({ input: it.record, outputs: [], failure: failureOf(err) })))),
    );

  const batch = (records: Array<InputRecord<I>>): Observable<Array<Outcome<I>>> =>
    prepareAll(records).pipe(
      mergeMap((prepared) => {
        const items = prepared.flatMap((p) => ('item' in p ? [p.item] : []));
        // Nothing left to run: the batch work is not called with no records.
        const ran$ = items.length ? runBatch(items) : of([]);
        // Back in input order: the ran outcomes fill the places of the records that were prepared.
        return ran$.pipe(map((ran) => prepared.map((p) => ('failed' in p ? p.failed : ran.shift()!))));
      }),
    );

  return (input$) =>
    input$.pipe(
      bufferCount(opts.size),
      mergeMap((records) => batch(records), opts.concurrency ?? 1),
      mergeMap((outcomes) => from(outcomes)),
    );
}

function observe<T>(w: Work<T>): Observable<T> {
  if (isObservable(w)) return w;
  return typeof (w as PromiseLike<T> | null)?.then === 'function' ? from(w as PromiseLike<T>) : of(w as T);
}

// A result per record, or the records' outcomes would not line up with them.
function checkCount(outputs: Emit[][], expected: number): Emit[][] {
  if (!Array.isArray(outputs) || outputs.length !== expected) {
    throw new Error(`batch work returned ${Array.isArray(outputs) ? outputs.length : typeof outputs} results for ${expected} records`);
  }
  return outputs;
}
