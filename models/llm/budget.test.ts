import { silentLogger } from '../../core/logger';
import { MemoryStoreProvider } from '../../core/store';
import { SimpleFlowControl } from '../../runtime/node-worker';
import { TestClock } from '../../test/harness/topology-test-driver';
import { budgetConfig, flowSources, SpendingGuard } from './budget';

const T0 = Date.UTC(2026, 11, 1, 13, 40); // 13:40 UTC: the hour window ends at 14:00
const settle = () => new Promise((r) => setTimeout(r, 5));

describe('SpendingGuard', () => {
  const guards: SpendingGuard[] = [];
  afterEach(() => guards.splice(0).forEach((g) => g.close()));

  function setup(config: object, shared = new MemoryStoreProvider(), clock = new TestClock(T0), instanceId?: string) {
    const flow = new SimpleFlowControl();
    const guard = new SpendingGuard({
      node: 'verify',
      config: budgetConfig.parse({ recheckMs: 10, ...config }),
      clock,
      flow,
      store: () => shared.open('budget', 'BudgetSpend'),
      logger: silentLogger,
      instanceId,
    });
    guards.push(guard);
    return { guard, flow, clock, shared };
  }

  it('admits freely without limits and never opens the store', async () => {
    const shared = new MemoryStoreProvider();
    const open = jest.spyOn(shared, 'open');
    const { guard, flow } = setup({}, shared);
    await guard.record(100);
    await guard.admit();
    expect(flow.paused$.value).toBe(false);
    expect(open).not.toHaveBeenCalled();
  });

  it('pauses at the hourly limit with the reason and resume time, holds admissions, and resumes at the hour', async () => {
    const { guard, flow, clock, shared } = setup({ usdPerHour: 0.05 }, undefined, undefined, 'i1');
    await guard.record(0.03);
    expect(flow.paused$.value).toBe(false);
    await guard.record(0.03);
    expect(flow.paused$.value).toBe(true);
    expect(flow.reason).toBe('budget: $0.0600 of $0.0500 per hour spent; resumes at 2026-12-01T14:00:00.000Z');
    const store = await shared.open('budget', 'BudgetSpend');
    expect(await store.get('verify|hour|2026-12-01T13|i1')).toEqual({ usd: 0.06, updatedAt: T0 });
    expect((await store.get('verify|day|2026-12-01|i1'))?.usd).toBeCloseTo(0.06);
    expect((await store.get('verify|total||i1'))?.usd).toBeCloseTo(0.06);

    let admitted = false;
    const waiting = guard.admit().then(() => (admitted = true));
    await settle();
    expect(admitted).toBe(false);
    clock.advance(19 * 60_000); // 13:59: still this hour
    await settle();
    expect(admitted).toBe(false);
    clock.advance(60_000); // 14:00: the recheck timer sees the new window
    await waiting;
    expect(flow.paused$.value).toBe(false);
    expect(guard.pausedReason).toBeNull();
  });

  it('sums every instance of the node, and a restarted instance keeps what its predecessor spent', async () => {
    const shared = new MemoryStoreProvider();
    const clock = new TestClock(T0);
    const a = setup({ usdPerDay: 1 }, shared, clock, 'a');
    const b = setup({ usdPerDay: 1 }, shared, clock, 'b');
    await a.guard.record(0.6);
    await b.guard.record(0.3);
    expect(b.flow.paused$.value).toBe(false);
    await b.guard.record(0.2);
    expect(b.flow.reason).toMatch(/^budget: \$1\.10 of \$1\.00 per day spent; resumes at 2026-12-02T00:00:00\.000Z$/);
    // a learns of b's spend on its next check, e.g. before its next record.
    const held = a.guard.admit();
    await settle();
    expect(a.flow.paused$.value).toBe(true);
    // Each wrote its own key: neither overwrote the other.
    const store = await shared.open('budget', 'BudgetSpend');
    expect(store.keys('verify|day|2026-12-01|').sort()).toEqual(['verify|day|2026-12-01|a', 'verify|day|2026-12-01|b']);
    // A new process (new instance id) on the same store starts paused.
    const c = setup({ usdPerDay: 1 }, shared, clock);
    await c.guard.check();
    expect(c.flow.paused$.value).toBe(true);
    clock.advance(DAY);
    await held;
    await c.guard.admit();
    expect(c.flow.paused$.value).toBe(false);
  });

  it('a spent usdTotal holds past every window; raising it lifts the pause', async () => {
    const shared = new MemoryStoreProvider();
    const clock = new TestClock(T0);
    const a = setup({ usdTotal: 0.1, usdPerHour: 5 }, shared, clock, 'a');
    await a.guard.record(0.1);
    expect(a.flow.reason).toBe('budget: $0.1000 of $0.1000 total spent; resumes when usdTotal is raised');
    clock.advance(2 * DAY);
    await a.guard.check();
    expect(a.flow.paused$.value).toBe(true);
    const raised = setup({ usdTotal: 0.2 }, shared, clock, 'a2');
    await raised.guard.admit();
    expect(raised.flow.paused$.value).toBe(false);
  });

  it('close stops the timer and fails a record still waiting', async () => {
    const { guard } = setup({ usdPerHour: 0 });
    const waiting = guard.admit();
    await settle();
    guard.close();
    await expect(waiting).rejects.toThrow(/closed while paused for budget/);
  });

  it('an aborted signal releases a waiting record with the abort reason', async () => {
    const { guard } = setup({ usdPerHour: 0 });
    const ac = new AbortController();
    const waiting = guard.admit(ac.signal);
    await settle();
    ac.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
  });
});

const DAY = 24 * 3_600_000;

describe('flowSources', () => {
  it('stays paused while any source holds, with every reason', () => {
    const flow = new SimpleFlowControl();
    const of = flowSources(flow);
    const provider = of('provider');
    const budget = of('budget');
    budget.resume(); // not paused by it: no effect
    provider.pause('provider down');
    budget.pause('budget spent');
    expect(flow.reason).toBe('provider down; budget spent');
    budget.resume();
    expect(flow.paused$.value).toBe(true);
    expect(flow.reason).toBe('provider down');
    provider.resume();
    expect(flow.paused$.value).toBe(false);
  });
});
