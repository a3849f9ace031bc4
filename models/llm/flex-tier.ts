// OpenAI's flex processing: `service_tier: "flex"` bills a synchronous call at Batch rates
// (half price) but may answer 429 "Resource Unavailable" when flex capacity is short, and
// can take minutes. Under flex, such a 429 waits `fallbackAfterMs` and then makes the same
// call on the default tier (billed at list price, and counted so), rather than failing the
// record or retrying flex forever; other errors go to ResilientProvider as usual.
import { z } from 'zod';
import { ProviderError } from './provider';
import type { BilledTier } from './provider';

export const serviceTierFields = {
  /** default: list price. flex: Batch rates, slower, may be unavailable (then the default tier). */
  serviceTier: z.enum(['default', 'flex']).default('default'),
  /** Under flex: how long to wait after a "resource unavailable" 429 before the default-tier call. */
  flexFallbackAfterMs: z.number().int().min(0).max(600_000).default(1_000),
  /** Under flex: the per-call deadline (OpenAI suggests 15 minutes), over limits.timeoutMs. */
  flexTimeoutMs: z.number().int().min(1_000).default(900_000),
};

/** A 429 that says flex capacity is short (not a rate limit of ours). */
export function isFlexUnavailable(err: unknown): boolean {
  if (!(err instanceof ProviderError) || err.kind !== 'rate-limit') return false;
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const text = `${err.message} ${typeof cause?.code === 'string' ? cause.code : ''} ${typeof cause?.message === 'string' ? cause.message : ''}`;
  return /resource[ _-]?unavailable/i.test(text);
}

/** The tier an OpenAI response says it was processed at, as billed. */
export function billedTier(serviceTier: unknown): BilledTier {
  return serviceTier === 'flex' ? 'flex' : 'default';
}

/**
 * Calls `call('flex')`; on a "resource unavailable" 429 waits `fallbackAfterMs` (or until
 * `signal` aborts) and returns `call('default')`. With tier default, just `call('default')`.
 */
export async function withFlexFallback<T>(
  tier: 'default' | 'flex',
  fallbackAfterMs: number,
  signal: AbortSignal | undefined,
  call: (tier: 'default' | 'flex') => Promise<T>,
  onFallback?: () => void,
): Promise<T> {
  if (tier !== 'flex') return call('default');
  try {
    return await call('flex');
  } catch (err) {
    if (!isFlexUnavailable(err)) throw err;
    onFallback?.();
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', stop);
        resolve();
      }, fallbackAfterMs);
      const stop = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', stop, { once: true });
    });
    return call('default');
  }
}
