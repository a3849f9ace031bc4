// Readiness as a registry of named conditions. Components report what they know when it
// changes (`set`), or register a probe read at request time (`probe`) for state they only
// hold (a breaker, a budget). The process is ready when every condition is true; GET /ready
// lists the false ones with their reasons. Names are namespaced by who reports them, e.g.
// `node:verify:assigned`, `provider:gemini-vertex/gemini-2.5-flash:breaker`, `process:started`.

export interface ConditionState {
  name: string;
  ok: boolean;
  /** Why it is false (or a note while true, e.g. the partitions held). */
  reason?: string;
  /** When `ok` last changed (ISO time); absent for probes, which are read now. */
  since?: string;
}

export interface ReadinessReport {
  ready: boolean;
  conditions: ConditionState[];
  failing: ConditionState[];
}

export type Probe = () => boolean | { ok: boolean; reason?: string };

export class Readiness {
  private readonly states = new Map<string, ConditionState>();
  private readonly probes = new Map<string, Probe>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Reports a condition; `since` moves only when `ok` changes. */
  set(name: string, ok: boolean, reason?: string): void {
    const old = this.states.get(name);
    const since = old && old.ok === ok ? old.since : new Date(this.now()).toISOString();
    this.states.set(name, { name, ok, ...(reason === undefined ? {} : { reason }), since });
  }

  /** A condition read on every check; a probe that throws reads as false with the error. Returns its remover. */
  probe(name: string, fn: Probe): () => void {
    this.probes.set(name, fn);
    return () => {
      if (this.probes.get(name) === fn) this.probes.delete(name);
    };
  }

  /** Forgets a condition (a component that is gone for good). */
  delete(name: string): void {
    this.states.delete(name);
    this.probes.delete(name);
  }

  get(name: string): ConditionState | undefined {
    const p = this.probes.get(name);
    return p ? readProbe(name, p) : this.states.get(name);
  }

  /** Every condition now, sorted by name; ready when none is false (also when there are none). */
  check(): ReadinessReport {
    const conditions = [...this.states.values(), ...[...this.probes].map(([name, p]) => readProbe(name, p))].sort((a, b) => a.name.localeCompare(b.name));
    const failing = conditions.filter((c) => !c.ok);
    return { ready: failing.length === 0, conditions, failing };
  }

  get ready(): boolean {
    return this.check().ready;
  }
}

function readProbe(name: string, p: Probe): ConditionState {
  try {
    const r = p();
    return typeof r === 'boolean' ? { name, ok: r } : { name, ok: r.ok, ...(r.reason === undefined ? {} : { reason: r.reason }) };
  } catch (err) {
    return { name, ok: false, reason: `probe failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/**
 * Reports each provider's breaker as `provider:<kind>/<model>:breaker`: ready only while
 * closed (half-open is still testing the provider). Takes anything with a breaker state
 * stream, so this module does not depend on the model layer. Returns an unsubscriber.
 */
export function watchBreakers(
  ready: Readiness,
  providers: ReadonlyArray<{ kind: string; model: string; state$: { subscribe(fn: (s: string) => void): { unsubscribe(): void } } }>,
): () => void {
  const seen = new Map<string, number>();
  const subs = providers.map((p) => {
    const base = `provider:${p.kind}/${p.model}`;
    // Two providers of one model with different limits keep separate conditions.
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const name = `${n === 1 ? base : `${base}#${n}`}:breaker`;
    return p.state$.subscribe((s) => ready.set(name, s === 'closed', s === 'closed' ? undefined : `circuit breaker ${s}`));
  });
  return () => subs.forEach((s) => s.unsubscribe());
}
