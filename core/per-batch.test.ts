import { defer, firstValueFrom, from, of, throwError, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ProcessingError } from './errors';
import { BatchItem, perBatch } from './per-batch';
import type { Emit, InputRecord, Outcome } from './processor';
import { retryPolicySchema } from './retry';

const rec = (i: number): InputRecord<number> => ({ key: String(i), value: i, origin: { topic: 't', partition: 0, offset: String(i) }, timestamp: 0 });
const policy = retryPolicySchema.parse({ maxAttempts: 3, initialDelayMs: 10, multiplier: 2, jitter: 0 });
const scheduler = () => new TestScheduler((a, e) => expect(a).toEqual(e));

const out = (r: InputRecord<number>, extra = 0): Emit[] => [{ port: 'out', key: r.key!, value: r.value * 2 + extra }];
const outs = (items: Array<BatchItem<number, unknown>>) => items.map((it) => out(it.record));
const ok = (r: InputRecord<number>): Outcome<number> => ({ input: r, outputs: out(r) });
const failed = (r: InputRecord<number>, error: unknown, attempts: number): Outcome<number> => ({ input: r, outputs: [], failure: { error, attempts } });
const recs = { a: rec(0), b: rec(1), c: rec(2), d: rec(3) };
const okAll = { a: ok(recs.a), b: ok(recs.b), c: ok(recs.c), d: ok(recs.d) };

describe('perBatch (marble tests on virtual time)', () => {
  it('groups records into batches and keeps at most `concurrency` batches in work', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const starts: number[][] = [];
      const run = (items: Array<BatchItem<number, undefined>>) =>
        defer(() => (starts.push([ts.now(), ...items.map((it) => it.record.value)]), cold('10ms (x|)', { x: outs(items) })));
      // Two batches at 0; one at a time: the second starts when the first is done, at 10.
      expectObservable(cold('(abcd|)', recs).pipe(perBatch(run, { size: 2, retry: policy, scheduler: ts }))).toBe('10ms (ab) 6ms (cd|)', okAll);
      ts.flush();
      expect(starts).toEqual([
        [0, 0, 1],
        [10, 2, 3],
      ]);
    });
    scheduler().run(({ cold, expectObservable }) => {
      const run = (items: Array<BatchItem<number, undefined>>) => cold('10ms (x|)', { x: outs(items) });
      expectObservable(cold('(abcd|)', recs).pipe(perBatch(run, { size: 2, concurrency: 2, retry: policy }))).toBe('10ms (abcd|)', okAll);
    });
  });

  it('runs the last, smaller batch when the input ends', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const run = (items: Array<BatchItem<number, undefined>>) => of(outs(items));
      // (a, b) goes when b arrives at 1; c alone when the input ends at 8.
      expectObservable(cold('ab-----c|', recs).pipe(perBatch(run, { size: 2 }))).toBe('-(ab) 3ms (c|)', okAll);
    });
  });

  it('retries a retriable batch failure after 10 then 20 frames of the scheduler', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const attempts: number[] = [];
      const run = (items: Array<BatchItem<number, undefined>>) =>
        defer(() => (attempts.push(ts.now()), attempts.length < 3 ? throwError(() => new ProcessingError('busy', { retriable: true })) : of(outs(items))));
      expectObservable(cold('(ab|)', recs).pipe(perBatch(run, { size: 2, retry: policy, scheduler: ts }))).toBe('30ms (ab|)', okAll);
      ts.flush();
      expect(attempts).toEqual([0, 10, 30]);
    });
  });

  it('gives every record of a batch that fails for good a failure outcome, and goes on', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const down = new ProcessingError('provider down', { retriable: true });
      const bad = new ProcessingError('bad batch');
      const run = (items: Array<BatchItem<number, undefined>>) => {
        const first = items[0]!.record.value;
        if (first === 0) return throwError(() => down);
        if (first === 2) throw bad; // a synchronous throw is a failed attempt too
        return of(outs(items));
      };
      // Batches of one: a gives up after attempts at 0, 10 and 30; c fails at once; b and d succeed.
      expectObservable(cold('(abcd|)', recs).pipe(perBatch(run, { size: 1, concurrency: 4, retry: policy }))).toBe('(bcd) 25ms (a|)', {
        ...okAll,
        a: failed(recs.a, down, 3),
        c: failed(recs.c, bad, 1),
      });
    });
  });

  it('prepares records one by one: a record that fails to prepare fails alone and leaves the batch', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const bad = new ProcessingError('bad image');
      const tries = new Map<number, number[]>();
      const prepare = (r: InputRecord<number>) =>
        defer(() => {
          const t = [...(tries.get(r.value) ?? []), ts.now()];
          tries.set(r.value, t);
          if (r.value === 0) return throwError(() => bad);
          if (r.value === 1 && t.length === 1) return throwError(() => new ProcessingError('blip', { retriable: true }));
          return cold('2ms (x|)', { x: 100 * r.value });
        });
      const ran: number[][] = [];
      const run = (items: Array<BatchItem<number, number>>) => {
        ran.push(items.map((it) => it.record.value));
        return cold('5ms (x|)', { x: items.map((it) => out(it.record, it.prepared)) });
      };
      // b is prepared again at 10 and ready at 12; the batch (b, c) runs from 12 to 17.
      const prepped = (r: InputRecord<number>) => ({ input: r, outputs: out(r, 100 * r.value) });
      expectObservable(cold('(abc|)', recs).pipe(perBatch(run, { size: 3, prepare, prepareRetry: policy, retry: policy, scheduler: ts }))).toBe('17ms (abc|)', {
        a: failed(recs.a, bad, 1),
        b: prepped(recs.b),
        c: prepped(recs.c),
      });
      ts.flush();
      expect(ran).toEqual([[1, 2]]);
      expect([...tries.entries()]).toEqual([
        [0, [0]],
        [1, [0, 10]],
        [2, [0]],
      ]);
    });
  });

  it('does not run a batch whose records all failed to prepare', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const bad = new ProcessingError('bad image');
      const run = jest.fn((items: Array<BatchItem<number, number>>) => items.map(() => []));
      const op = perBatch(run, { size: 2, prepare: () => throwError(() => bad), retry: policy });
      expectObservable(cold('(ab|)', recs).pipe(op)).toBe('(ab|)', { a: failed(recs.a, bad, 1), b: failed(recs.b, bad, 1) });
    });
  });

  it('yields exactly one outcome per input, with mixed batches, failures and concurrency', () => {
    scheduler().run(({ cold, flush }) => {
      const inputs = Array.from({ length: 23 }, (_, i) => rec(i));
      const prepare = (r: InputRecord<number>) =>
        r.value % 7 === 3 ? throwError(() => new ProcessingError('bad')) : cold(`${r.value % 4}ms (x|)`, { x: r.value });
      const run = (items: Array<BatchItem<number, number>>) =>
        items.some((it) => it.prepared % 5 === 4)
          ? cold<Emit[][]>('3ms #', undefined, new ProcessingError('busy', { retriable: true }))
          : cold('1ms x 2ms (y|)', { x: [], y: outs(items as Array<BatchItem<number, unknown>>) });
      const outcomes: Array<Outcome<number>> = [];
      from(inputs)
        .pipe(perBatch(run, { size: 4, concurrency: 2, prepare, retry: policy }))
        .subscribe((o) => outcomes.push(o));
      flush();
      expect(outcomes.map((o) => o.input.value).sort((x, y) => x - y)).toEqual(inputs.map((r) => r.value));
      expect(outcomes.filter((o) => o.failure).length).toBeGreaterThan(0);
      for (const o of outcomes.filter((x) => !x.failure)) expect(o.outputs).toEqual(out(o.input));
    });
  });
});

describe('perBatch with promises', () => {
  it('takes async batch work and fails a batch whose results do not line up with its records', async () => {
    const good = perBatch<number>(async (items) => outs(items), { size: 3 });
    const outcomes = await firstValueFrom(from([0, 1, 2, 3].map(rec)).pipe(good, toArray()));
    expect(outcomes).toEqual([0, 1, 2, 3].map((i) => ok(rec(i))));

    const short = perBatch<number>(async (items) => outs(items).slice(1), { size: 2 });
    const failures = await firstValueFrom(from([0, 1].map(rec)).pipe(short, toArray()));
    expect(failures.map((o) => [o.failure?.attempts, (o.failure?.error as Error).message])).toEqual([
      [1, 'batch work returned 1 results for 2 records'],
      [1, 'batch work returned 1 results for 2 records'],
    ]);
  });
});
