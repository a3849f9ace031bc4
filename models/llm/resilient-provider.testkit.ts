// Shared by the ResilientProvider tests: a provider that answers from a script, a way to
// watch a promise settle under fake time, and a setup() whose providers are closed after
// each test. Time is jest's fake clock (rxjs's asyncScheduler follows it), so minutes of
// backoff, cooldown and rate-limit pacing run in milliseconds.
import pino from 'pino';
import { Registry } from 'prom-client';
import type { BreakerState } from '../../core/circuit-breaker';
import { CompletionRequest, CompletionResult, LlmProvider, ProviderError, TokenUsage } from './provider';
import { ResilienceConfigInput, ResilientProvider } from './resilient-provider';

export type Step =
  { ok: { usage?: TokenUsage; delayMs?: number; text?: string } } | { fail: ProviderError; delayMs?: number } | { hang: 'respect-signal' | 'ignore-signal' };

export const ok = (usage?: TokenUsage, delayMs?: number): Step => ({ ok: { usage, delayMs } });
export const fail = (kind: ProviderError['kind'], status?: number, retryAfterMs?: number, msg = `HTTP ${status ?? kind}`): Step => ({
  fail: new ProviderError(msg, kind, { status, retryAfterMs }),
});

/** An in-memory provider that answers from a script, one step per call. */
export class ScriptedProvider implements LlmProvider {
  readonly kind = 'scripted';
  readonly starts: number[] = [];
  readonly requests: CompletionRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    readonly model: string,
    private readonly script: Step[],
    private readonly fallback: Step = ok(),
  ) {}

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    this.starts.push(Date.now());
    this.requests.push(req);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const step = this.script.shift() ?? this.fallback;
    try {
      if ('hang' in step) {
        return await new Promise<never>((_, reject) => {
          if (step.hang === 'respect-signal') req.signal?.addEventListener('abort', () => reject(new ProviderError('request aborted', 'aborted')));
        });
      }
      const delayMs = 'ok' in step ? step.ok.delayMs : step.delayMs;
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if ('fail' in step) throw step.fail;
      return { text: step.ok.text ?? '{"ok":true}', usage: step.ok.usage ?? { inputTokens: 10, outputTokens: 5 }, model: `${this.model}-2025-08-07` };
    } finally {
      this.inFlight -= 1;
    }
  }
}

export interface Tracked<T> {
  done: boolean;
  value?: T;
  error?: unknown;
  settled: Promise<void>;
}

/** Watches a promise without awaiting it, so a test can check whether it settled yet. */
export function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { done: false, settled: Promise.resolve() };
  t.settled = p.then(
    (v) => {
      t.done = true;
      t.value = v;
    },
    (e) => {
      t.done = true;
      t.error = e;
    },
  );
  return t;
}

export const advance = (ms: number) => jest.advanceTimersByTimeAsync(ms);

export const req = (text = 'Is box 1 a dog? SECRET PROMPT', extra: Partial<CompletionRequest> = {}): CompletionRequest => ({
  parts: [{ type: 'text', text }],
  ...extra,
});

/**
 * Installs fake time for each test of the file. setup() makes a ResilientProvider over a
 * ScriptedProvider with fast backoff, its own registry and captured logs; keep() takes one
 * made by hand. Both are closed after the test.
 */
export function resilientProviders() {
  const providers: ResilientProvider[] = [];
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => {
    providers.splice(0).forEach((p) => p.close());
    jest.useRealTimers();
  });
  const keep = (...rps: ResilientProvider[]) => {
    providers.push(...rps);
    return rps[0]!;
  };
  const setup = (script: Step[], config: ResilienceConfigInput = {}, opts: { model?: string; fallback?: Step; logs?: Record<string, unknown>[] } = {}) => {
    const inner = new ScriptedProvider(opts.model ?? 'gpt-5-mini', script, opts.fallback);
    const registry = new Registry();
    const logs = opts.logs ?? [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const rp = keep(new ResilientProvider(inner, { backoff: { initialDelayMs: 100, maxDelayMs: 10_000, jitter: 0 }, ...config }, { registry, logger }));
    const states: BreakerState[] = [];
    rp.state$.subscribe((s) => states.push(s));
    return { inner, rp, registry, logs, states };
  };
  return { setup, keep };
}
