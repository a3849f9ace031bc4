import { VirtualTimeScheduler } from 'rxjs';
import { BreakerDisposedError, BreakerState, CircuitBreaker } from './circuit-breaker';

function setup(opts: Partial<{ failureThreshold: number; cooldownMs: number; maxCooldownMs: number }> = {}) {
  const scheduler = new VirtualTimeScheduler();
  const transitions: string[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    cooldownMs: 100,
    maxCooldownMs: 300,
    ...opts,
    scheduler,
    onTransition: (from, to, info) => transitions.push(`${from}->${to}@${scheduler.now()}/${info.cooldownMs}`),
  });
  const states: BreakerState[] = [];
  breaker.state$.subscribe((s) => states.push(s));
  // Runs every timer due up to `ms` from now (virtual time).
  const advance = (ms: number) => {
    scheduler.maxFrames = scheduler.now() + ms;
    scheduler.flush();
    scheduler.frame = scheduler.maxFrames;
  };
  const fail = (n: number) => {
    for (let i = 0; i < n; i++) breaker.failure(breaker.tryAdmit()!);
  };
  return { breaker, scheduler, transitions, states, advance, fail };
}

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures; a success in between resets the count', () => {
    const { breaker, fail, states } = setup();
    fail(2);
    breaker.success(breaker.tryAdmit()!);
    fail(2);
    expect(breaker.state).toBe('closed');
    expect(breaker.failure(breaker.tryAdmit()!)).toBe(true);
    expect(breaker.state).toBe('open');
    expect(states).toEqual(['closed', 'open']);
  });

  it('refuses while open, moves to half-open on its own timer, lets exactly one probe through, and closes on its success', async () => {
    const { breaker, fail, advance, states, transitions } = setup();
    fail(3);
    expect(breaker.tryAdmit()).toBeUndefined();
    expect(breaker.msUntilHalfOpen).toBe(100);
    let woken = false;
    const waiting = breaker.whenChanged().then(() => (woken = true));
    advance(99);
    await Promise.resolve();
    expect(woken).toBe(false);
    advance(1);
    await waiting;
    expect(breaker.state).toBe('half-open');
    const probe = breaker.tryAdmit()!;
    expect(probe.probe).toBe(true);
    expect(breaker.canAdmit()).toBe(false);
    expect(breaker.tryAdmit()).toBeUndefined();
    breaker.success(probe);
    expect(breaker.state).toBe('closed');
    expect(states).toEqual(['closed', 'open', 'half-open', 'closed']);
    expect(transitions).toEqual(['closed->open@0/100', 'open->half-open@100/100', 'half-open->closed@100/100']);
  });

  it('a failed probe reopens with a doubled cooldown, capped; closing resets it', () => {
    const { breaker, fail, advance, transitions } = setup();
    fail(3);
    for (const expected of [200, 300, 300]) {
      advance(breaker.cooldownMs);
      expect(breaker.state).toBe('half-open');
      breaker.failure(breaker.tryAdmit()!);
      expect(breaker.state).toBe('open');
      expect(breaker.cooldownMs).toBe(expected);
    }
    advance(300);
    breaker.success(breaker.tryAdmit()!);
    expect(breaker.cooldownMs).toBe(100);
    expect(transitions.filter((t) => t.startsWith('half-open->open'))).toHaveLength(3);
  });

  it('ignores results of calls admitted before it opened', () => {
    const { breaker, fail, advance } = setup({ failureThreshold: 2 });
    const straggler = breaker.tryAdmit()!;
    fail(2);
    advance(100);
    const probe = breaker.tryAdmit()!;
    expect(breaker.failure(straggler)).toBe(false);
    breaker.success(straggler);
    expect(breaker.state).toBe('half-open');
    breaker.success(probe);
    // Still ignored after closing: a stale failure must not count toward the next opening.
    breaker.failure(straggler);
    expect(breaker.consecutiveFailures).toBe(0);
  });

  it('a released probe lets another waiter probe', async () => {
    const { breaker, fail, advance } = setup();
    fail(3);
    advance(100);
    const probe = breaker.tryAdmit()!;
    const waiting = breaker.whenChanged();
    breaker.release(probe);
    await waiting;
    expect(breaker.tryAdmit()?.probe).toBe(true);
  });

  it('whenChanged rejects on abort and on dispose', async () => {
    const { breaker, fail } = setup();
    fail(3);
    const ac = new AbortController();
    const aborted = breaker.whenChanged(ac.signal);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    const pending = breaker.whenChanged();
    let completed = false;
    breaker.state$.subscribe({ complete: () => (completed = true) });
    breaker.dispose();
    await expect(pending).rejects.toBeInstanceOf(BreakerDisposedError);
    expect(completed).toBe(true);
  });

  it('names bad options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0, cooldownMs: 1, maxCooldownMs: 1 })).toThrow('failureThreshold must be an integer >= 1, got 0');
    expect(() => new CircuitBreaker({ failureThreshold: 1, cooldownMs: 10, maxCooldownMs: 5 })).toThrow('cooldownMs <= maxCooldownMs, got 10 and 5');
  });
});
