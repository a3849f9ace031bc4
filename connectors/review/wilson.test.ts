import { wilson } from './wilson';

// Expected ends computed by hand from (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.96.
describe('wilson', () => {
  it('8 of 10 -> [0.490, 0.943]', () => {
    const w = wilson(8, 10);
    expect(w.rate).toBeCloseTo(0.8, 10);
    expect(w.low).toBeCloseTo(0.4902, 4);
    expect(w.high).toBeCloseTo(0.9433, 4);
  });

  it('0 of 0 has no rate and no interval', () => {
    expect(wilson(0, 0)).toEqual({ rate: null, low: null, high: null });
  });

  it('0 of 5 and 5 of 5 stay inside [0, 1] with a width that reflects n', () => {
    // 0/5: high = (3.8416/10 + sqrt(3.8416²/100)) / 1.76832 = 0.76832 / 1.76832 = 0.4345
    const none = wilson(0, 5);
    expect(none.low).toBe(0);
    expect(none.high).toBeCloseTo(0.4345, 4);
    const all = wilson(5, 5);
    expect(all.high).toBe(1);
    expect(all.low).toBeCloseTo(1 - 0.4345, 4);
  });

  it('50 of 100 -> [0.404, 0.596]', () => {
    const w = wilson(50, 100);
    expect(w.low).toBeCloseTo(0.4038, 4);
    expect(w.high).toBeCloseTo(0.5962, 4);
  });

  it('refuses more successes than trials', () => {
    expect(() => wilson(3, 2)).toThrow(RangeError);
  });
});
