import { defer, firstValueFrom, from, Observable, of, throwError, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ProcessingError } from './errors';
import { perRecord, perRecordWork } from './per-record';
import type { Emit, InputRecord, Outcome } from './processor';
import { retryPolicySchema } from './retry';

const rec = (i: number) => ({ key: String(i), value: i, origin: { topic: 't', partition: 0, offset: String(i) }, timestamp: 0 });
const fast = retryPolicySchema.parse({ maxAttempts: 3, initialDelayMs: 1, jitter: 0 });

describe('perRecord', () => {
  it('yields exactly one outcome per input, never more than `concurrency` in work', async () => {
    let inWork = 0;
    let peak = 0;
    const op = perRecord<number>(
      async (r) => {
        peak = Math.max(peak, ++inWork);
        await new Promise((res) => setTimeout(res, 2));
        inWork--;
        return [{ port: 'out', key: r.key!, value: r.value * 2 }];
      },
      { concurrency: 3, retry: fast },
    );
    const outcomes = await firstValueFrom(from(Array.from({ length: 20 }, (_, i) => rec(i))).pipe(op, toArray()));
    expect(outcomes).toHaveLength(20);
    expect(new Set(outcomes.map((o) => o.input.value)).size).toBe(20);
    expect(peak).toBeLessThanOrEqual(3);
  });

  it('retries retriable errors and reports attempts when they run out', async () => {
    let calls = 0;
    const op = perRecord<number>(
      () => {
        calls++;
        throw new ProcessingError('provider down', { retriable: true });
      },
      { retry: fast },
    );
    const [o] = await firstValueFrom(from([rec(1)]).pipe(op, toArray()));
    expect(calls).toBe(3);
    expect(o!.failure?.attempts).toBe(3);
    expect((o!.failure?.error as Error).message).toBe('provider down');
  });

  it('recovers when a retry succeeds', async () => {
    let calls = 0;
    const op = perRecord<number>(
      () => {
        if (++calls < 2) throw new ProcessingError('blip', { retriable: true });
        return [{ port: 'out', key: 'k', value: 1 }];
      },
      { retry: fast },
    );
    const [o] = await firstValueFrom(from([rec(1)]).pipe(op, toArray()));
    expect(o!.failure).toBeUndefined();
    expect(o!.outputs).toHaveLength(1);
  });
});

describe('perRecord (marble tests on virtual time)', () => {
  const policy = retryPolicySchema.parse({ maxAttempts: 3, initialDelayMs: 10, multiplier: 2, jitter: 0 });
  const scheduler = () => new TestScheduler((a, e) => expect(a).toEqual(e));
  const out = (r: InputRecord<number>): Emit[] => [{ port: 'out', key: r.key!, value: r.value * 2 }];
  const ok = (r: InputRecord<number>): Outcome<number> => ({ input: r, outputs: out(r) });
  const failed = (r: InputRecord<number>, error: unknown, attempts: number): Outcome<number> => ({ input: r, outputs: [], failure: { error, attempts } });
  const recs = { a: rec(0), b: rec(1), c: rec(2), d: rec(3) };

  it('keeps at most `concurrency` records in work; the others start as slots free up', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const starts: number[] = [];
      const op = perRecordWork<number>((r) => defer(() => (starts.push(ts.now()), cold('10ms (x|)', { x: out(r) }))), {
        concurrency: 2,
        retry: policy,
        scheduler: ts,
      });
      // a and b take the two slots at 0 and 1; c gets a's at 10, d gets b's at 11.
      expectObservable(cold('abcd|', recs).pipe(op)).toBe('10ms ab 8ms c (d|)', { a: ok(recs.a), b: ok(recs.b), c: ok(recs.c), d: ok(recs.d) });
      ts.flush();
      expect(starts).toEqual([0, 1, 10, 11]);
    });
  });

  it('retries a retriable error after 10 then 20 frames of the scheduler', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const attempts: number[] = [];
      const op = perRecordWork<number>(
        (r) => defer(() => (attempts.push(ts.now()), attempts.length < 3 ? throwError(() => new ProcessingError('blip', { retriable: true })) : of(out(r)))),
        { retry: policy, scheduler: ts },
      );
      expectObservable(cold('(a|)', recs).pipe(op)).toBe('30ms (a|)', { a: ok(recs.a) });
      ts.flush();
      expect(attempts).toEqual([0, 10, 30]);
    });
  });

  it('turns final failures into failure outcomes, and the other records go on', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const down = new ProcessingError('provider down', { retriable: true });
      const bad = new ProcessingError('bad input');
      const work = (r: InputRecord<number>) =>
        r.value === 0 ? throwError(() => down) : r.value === 1 ? throwError(() => bad) : cold('5ms (x|)', { x: out(r) });
      // b fails at once (not retriable), c succeeds at 5, a gives up after attempts at 0, 10 and 30.
      expectObservable(cold('(abc|)', recs).pipe(perRecordWork(work, { retry: policy }))).toBe('b 4ms c 24ms (a|)', {
        a: failed(recs.a, down, 3),
        b: failed(recs.b, bad, 1),
        c: ok(recs.c),
      });
    });
  });

  it('yields exactly one outcome per input, whatever the work emits', () => {
    scheduler().run(({ cold, flush }) => {
      const inputs = Array.from({ length: 20 }, (_, i) => rec(i));
      // Two values, an error after a value, nothing, a late success, a plain result.
      const work = (r: InputRecord<number>): Observable<Emit[]> =>
        [
          cold('1ms x 1ms (y|)', { x: [], y: out(r) }),
          cold('1ms x 1ms #', { x: out(r) }, new ProcessingError('late', { retriable: true })),
          cold<Emit[]>('3ms |'),
          cold('7ms (x|)', { x: out(r) }),
          of(out(r)),
        ][r.value % 5]!;
      const outcomes: Array<Outcome<number>> = [];
      from(inputs)
        .pipe(perRecordWork(work, { concurrency: 3, retry: policy }))
        .subscribe((o) => outcomes.push(o));
      flush();
      expect(outcomes.map((o) => o.input.value).sort((x, y) => x - y)).toEqual(inputs.map((r) => r.value));
      expect(
        outcomes
          .filter((o) => o.failure)
          .map((o) => o.input.value % 5)
          .sort(),
      ).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
      for (const o of outcomes.filter((x) => !x.failure)) expect(o.outputs).toEqual(out(o.input));
    });
  });

  it('times the retries of a promise-returning function through the given scheduler too', async () => {
    // perRecord calls fn a microtask after each attempt starts, which run() cannot wait
    // for; so virtual time is advanced by hand, letting promises settle between steps.
    const ts = scheduler();
    const attempts: number[] = [];
    const op = perRecord<number>(
      async () => {
        attempts.push(ts.now());
        throw new ProcessingError('provider down', { retriable: true });
      },
      { retry: policy, scheduler: ts },
    );
    const outcomes: Array<Outcome<number>> = [];
    from([rec(1)])
      .pipe(op)
      .subscribe((o) => outcomes.push(o));
    for (let i = 0; i < 5; i++) {
      await new Promise((res) => setImmediate(res));
      ts.flush();
    }
    expect(attempts).toEqual([0, 10, 30]);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.failure?.attempts).toBe(3);
  });
});
