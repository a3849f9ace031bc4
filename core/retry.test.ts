import { TestScheduler } from 'rxjs/testing';
import { defer, of, throwError } from 'rxjs';
import { ProcessingError } from './errors';
import { AttemptsExhausted, backoffDelay, retryPolicySchema, withRetry } from './retry';

const policy = retryPolicySchema.parse({ maxAttempts: 3, initialDelayMs: 10, multiplier: 2, jitter: 0 });

describe('withRetry (marble tests on virtual time)', () => {
  const scheduler = () => new TestScheduler((a, e) => expect(a).toEqual(e));

  it('retries retriable errors after 10 then 20 frames, then succeeds', () => {
    scheduler().run(({ expectObservable }) => {
      let calls = 0;
      const work = () => defer(() => (++calls < 3 ? throwError(() => new ProcessingError('busy', { retriable: true })) : of('ok')));
      // attempt 1 at 0, attempt 2 at 10, attempt 3 at 30 -> value and completion at 30
      expectObservable(withRetry(work, policy, undefined, () => 0)).toBe('30ms (a|)', { a: 'ok' });
    });
  });

  it('passes the scheduler to the backoff timers', () => {
    const ts = scheduler();
    ts.run(({ expectObservable }) => {
      const work = () => throwError(() => new ProcessingError('down', { retriable: true }));
      expectObservable(withRetry(work, policy, ts)).toBe('30ms #', undefined, new AttemptsExhausted(new ProcessingError('down'), 3));
    });
  });

  it('fails at once on a non-retriable error, counting one attempt', () => {
    scheduler().run(({ expectObservable }) => {
      const err = new ProcessingError('bad input');
      const work = () => throwError(() => err);
      expectObservable(withRetry(work, policy)).toBe('#', undefined, new AttemptsExhausted(err, 1));
    });
  });

  it('caps and jitters the delay', () => {
    const p = retryPolicySchema.parse({ initialDelayMs: 100, maxDelayMs: 300, multiplier: 2, jitter: 0.5 });
    expect(backoffDelay(p, 1, () => 0)).toBe(50);
    expect(backoffDelay(p, 1, () => 1)).toBe(100);
    expect(backoffDelay(p, 5, () => 1)).toBe(300);
  });
});
