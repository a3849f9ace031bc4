import { TokenBucket } from './token-bucket';

function bucket(capacity: number, refillPerMs: number) {
  let t = 0;
  const b = new TokenBucket({ capacity, refillPerMs, now: () => t });
  return { b, advance: (ms: number) => (t += ms) };
}

describe('TokenBucket', () => {
  it('starts full and lets a burst up to the capacity through at once', () => {
    const { b } = bucket(10, 1);
    expect(b.reserve(4)).toBe(0);
    expect(b.reserve(6)).toBe(0);
    expect(b.available).toBe(0);
  });

  it('paces callers first come, first served once empty', () => {
    const { b, advance } = bucket(10, 0.01); // 10 tokens per second
    expect(b.reserve(10)).toBe(0);
    expect(b.reserve(5)).toBe(500);
    expect(b.reserve(5)).toBe(1000);
    advance(1000);
    expect(b.available).toBeCloseTo(0);
    expect(b.reserve(1)).toBeCloseTo(100);
  });

  it('refills over time but never above the capacity', () => {
    const { b, advance } = bucket(10, 0.01);
    b.reserve(10);
    advance(300);
    expect(b.available).toBeCloseTo(3);
    advance(60_000);
    expect(b.available).toBe(10);
  });

  it('lets an oversize request through on a full bucket and makes the next caller wait off the debt', () => {
    const { b, advance } = bucket(10, 0.01);
    b.reserve(4);
    // Needs a full bucket first (4 missing = 400 ms), never more.
    expect(b.reserve(25)).toBeCloseTo(400);
    advance(400);
    expect(b.available).toBeCloseTo(-15);
    // 15 of debt + 1 token for this call.
    expect(b.reserve(1)).toBeCloseTo(1600);
  });

  it('adjust gives tokens back (capped) or takes more (into debt)', () => {
    const { b } = bucket(10, 0.01);
    b.reserve(8);
    b.adjust(5);
    expect(b.available).toBe(7);
    b.adjust(100);
    expect(b.available).toBe(10);
    b.adjust(-14);
    expect(b.available).toBe(-4);
    expect(b.reserve(1)).toBeCloseTo(500);
  });

  it('perMinute spreads the quota over a minute', () => {
    let t = 0;
    const b = TokenBucket.perMinute(60, () => t);
    expect(b.capacity).toBe(60);
    for (let i = 0; i < 60; i++) b.reserve(1);
    expect(b.reserve(1)).toBeCloseTo(1000);
    t += 1000;
    expect(b.available).toBeCloseTo(0);
  });

  it('names bad arguments', () => {
    expect(() => new TokenBucket({ capacity: 0, refillPerMs: 1, now: () => 0 })).toThrow('capacity must be a positive number, got 0');
    expect(() => bucket(1, 1).b.reserve(-1)).toThrow('reserve needs a finite amount >= 0, got -1');
    expect(() => bucket(1, 1).b.adjust(NaN)).toThrow('adjust needs a finite amount, got NaN');
  });
});
