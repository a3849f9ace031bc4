import { BehaviorSubject } from 'rxjs';
import { Readiness, watchBreakers } from './readiness';

describe('Readiness', () => {
  it('is ready with no conditions, and only while every condition holds', () => {
    const r = new Readiness();
    expect(r.check()).toEqual({ ready: true, conditions: [], failing: [] });
    r.set('node:verify:assigned', false, 'rebalancing');
    r.set('node:plan:assigned', true, 'partitions 0, 1');
    expect(r.ready).toBe(false);
    expect(r.check().failing).toEqual([expect.objectContaining({ name: 'node:verify:assigned', ok: false, reason: 'rebalancing' })]);
    r.set('node:verify:assigned', true);
    expect(r.ready).toBe(true);
    expect(r.get('node:verify:assigned')).toMatchObject({ ok: true });
    expect(r.get('node:verify:assigned')!.reason).toBeUndefined();
  });

  it('moves `since` only when the condition flips', () => {
    let now = 1_000;
    const r = new Readiness(() => now);
    r.set('a', false, 'starting');
    now = 2_000;
    r.set('a', false, 'still starting');
    expect(r.get('a')).toMatchObject({ reason: 'still starting', since: new Date(1_000).toISOString() });
    now = 3_000;
    r.set('a', true);
    expect(r.get('a')!.since).toBe(new Date(3_000).toISOString());
  });

  it('reads probes at every check; a throwing probe is false with its error; removers and delete forget', () => {
    const r = new Readiness();
    let budget = 10;
    const remove = r.probe('budget:daily', () => ({ ok: budget > 0, reason: budget > 0 ? undefined : 'daily budget spent' }));
    r.probe('broken', () => {
      throw new Error('no state');
    });
    expect(r.check().failing.map((c) => [c.name, c.reason])).toEqual([['broken', 'probe failed: no state']]);
    budget = 0;
    expect(r.check().failing.map((c) => c.name)).toEqual(['broken', 'budget:daily']);
    remove();
    r.delete('broken');
    expect(r.check()).toEqual({ ready: true, conditions: [], failing: [] });
  });
});

describe('watchBreakers', () => {
  it('is not ready while a breaker is open or half-open, and names the provider', () => {
    const r = new Readiness();
    const a = new BehaviorSubject('closed');
    const b = new BehaviorSubject('closed');
    const stop = watchBreakers(r, [
      { kind: 'gemini-vertex', model: 'gemini-2.5-flash', state$: a },
      { kind: 'gemini-vertex', model: 'gemini-2.5-flash', state$: b },
    ]);
    expect(r.check().conditions.map((c) => c.name)).toEqual([
      'provider:gemini-vertex/gemini-2.5-flash:breaker',
      'provider:gemini-vertex/gemini-2.5-flash#2:breaker',
    ]);
    expect(r.ready).toBe(true);
    a.next('open');
    expect(r.check().failing).toEqual([expect.objectContaining({ name: 'provider:gemini-vertex/gemini-2.5-flash:breaker', reason: 'circuit breaker open' })]);
    a.next('half-open');
    expect(r.ready).toBe(false);
    a.next('closed');
    expect(r.ready).toBe(true);
    stop();
    b.next('open');
    expect(r.ready).toBe(true); // unsubscribed
  });
});
