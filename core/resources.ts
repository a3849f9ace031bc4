// What a runtime's nodes share (model providers with their limits and breakers, detector
// sessions): created on first use under a key, closed when the runtime stops. A runtime
// owns one Resources and hands it to every node through `ctx.resources`, so nodes that use
// the same API share its quota as before, while two runtimes (or two tests) share nothing.
import { silentLogger, Logger } from './logger';

/** A family of resources: its name keys the entries apart, `close` releases one entry. */
export interface ResourceKind<T> {
  readonly name: string;
  readonly close?: (value: T) => void | Promise<void>;
}

/** Declares a kind once (a constant token), so `get` and `list` are typed by it. */
export function resourceKind<T>(name: string, close?: (value: T) => void | Promise<void>): ResourceKind<T> {
  return { name, close };
}

/**
 * A kind whose entries are loads of something closable (a model session). Closing an entry
 * closes what it loaded; a load that failed holds nothing to release.
 */
export function loadedKind<T extends { close(): void | Promise<void> }>(name: string): ResourceKind<Promise<T>> {
  return resourceKind<Promise<T>>(name, (p) =>
    p.then(
      (v) => v.close(),
      () => undefined,
    ),
  );
}

interface Entry {
  kind: ResourceKind<unknown>;
  value: unknown;
}

export class Resources {
  // Map keeps insertion order: closeAll walks it backwards, so later (possibly dependent) entries close first.
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(private readonly logger: Logger = silentLogger) {}

  /** The entry of `kind` under `key`, created by `create` the first time. */
  get<T>(kind: ResourceKind<T>, key: string, create: () => T): T {
    if (this.closed) throw new Error(`resources are closed: cannot create ${kind.name} ${key}`);
    const id = `${kind.name}\u0000${key}`;
    const found = this.entries.get(id);
    if (found) return found.value as T;
    const value = create();
    this.entries.set(id, { kind: kind as ResourceKind<unknown>, value });
    return value;
  }

  /** The load under `key`, started by `load` the first time; a load that fails is forgotten, so the next call tries again. */
  load<T>(kind: ResourceKind<Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const p = this.get(kind, key, load);
    p.catch(() => this.forget(kind, key, p));
    return p;
  }

  /** Forgets an entry without closing it (e.g. a load that failed, so the next get retries). */
  forget<T>(kind: ResourceKind<T>, key: string, value: T): void {
    const id = `${kind.name}\u0000${key}`;
    if (this.entries.get(id)?.value === value) this.entries.delete(id);
  }

  /** Every entry of `kind`, in creation order. */
  list<T>(kind: ResourceKind<T>): T[] {
    return [...this.entries.values()].filter((e) => e.kind.name === kind.name).map((e) => e.value as T);
  }

  /**
   * Closes every entry, newest first. A failing close is logged and returned, and does not
   * stop the others: shutdown must release everything it can.
   */
  async closeAll(): Promise<unknown[]> {
    this.closed = true;
    const entries = [...this.entries.values()].reverse();
    this.entries.clear();
    const errors: unknown[] = [];
    for (const e of entries) {
      try {
        await e.kind.close?.(e.value);
      } catch (err) {
        errors.push(err);
        this.logger.warn({ resource: e.kind.name, error: String(err) }, 'closing a shared resource failed');
      }
    }
    return errors;
  }
}
