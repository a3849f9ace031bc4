import { firstValueFrom, from, toArray } from 'rxjs';
import { ProcessingError } from './errors';
import { perRecord } from './per-record';
import { retryPolicySchema } from './retry';

const rec = (i: number) => ({ key: String(i), value: i, origin: { topic: 't', partition: 0, offset: String(i) }, timestamp: 0 });
const fast = retryPolicySchema.parse({ maxAttempts: 3, initialDelayMs: 1, jitter: 0 });

describe('perRecord', () => {
  it('yields exactly one outcome per input, never more than `concurrency` in work', async () => {
    let inWork = 0;
    let peak = 0;
    const op = perRecord<number>(async (r) => {
      peak = Math.max(peak, ++inWork);
      await new Promise((res) => setTimeout(res, 2));
      inWork--;
      return [{ port: 'out', key: r.key!, value: r.value * 2 }];
    }, { concurrency: 3, retry: fast });
    const outcomes = await firstValueFrom(from(Array.from({ length: 20 }, (_, i) => rec(i))).pipe(op, toArray()));
    expect(outcomes).toHaveLength(20);
    expect(new Set(outcomes.map((o) => o.input.value)).size).toBe(20);
    expect(peak).toBeLessThanOrEqual(3);
  });

  it('retries retriable errors and reports attempts when they run out', async () => {
    let calls = 0;
    const op = perRecord<number>(() => {
      calls++;
      throw new ProcessingError('provider down', { retriable: true });
    }, { retry: fast });
    const [o] = await firstValueFrom(from([rec(1)]).pipe(op, toArray()));
    expect(calls).toBe(3);
    expect(o!.failure?.attempts).toBe(3);
    expect((o!.failure?.error as Error).message).toBe('provider down');
  });

  it('recovers when a retry succeeds', async () => {
    let calls = 0;
    const op = perRecord<number>(() => {
      if (++calls < 2) throw new ProcessingError('blip', { retriable: true });
      return [{ port: 'out', key: 'k', value: 1 }];
    }, { retry: fast });
    const [o] = await firstValueFrom(from([rec(1)]).pipe(op, toArray()));
    expect(o!.failure).toBeUndefined();
    expect(o!.outputs).toHaveLength(1);
  });
});
