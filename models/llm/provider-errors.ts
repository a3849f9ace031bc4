// Turns whatever an SDK threw into a ProviderError whose kind tells ResilientProvider what
// to do next. Messages name the provider, model and status and carry a short, scrubbed
// excerpt of the server's words: never the API key, never the request body (images).
import { ApiError as GenAiApiError } from '@google/genai';
import OpenAI from 'openai';
import { ProviderError, ProviderErrorKind } from './provider';

export interface ErrorContext {
  /** Provider kind, e.g. 'openai-responses'. */
  provider: string;
  model: string;
  /** The signal the call ran under (linkSignal's): when it has fired, the failure is ours, not the server's. */
  signal?: AbortSignal;
  /** Values that must never be shown (API keys, access tokens). */
  secrets?: readonly string[];
  /** Where the call went (only the origin is shown, so userinfo in a URL never leaks). */
  baseURL?: string;
  /** Response headers, when the SDK's error does not keep them (genai's ApiError). */
  responseHeaders?: HeadersLike;
}

export type HeadersLike = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

const MAX_DETAIL = 300;

/** Milliseconds from `retry-after-ms`, or `retry-after` in seconds or as an HTTP date. */
export function parseRetryAfter(headers: HeadersLike | undefined | null, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const get = (name: string): string | undefined => {
    if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
    const v = (headers as Record<string, string | string[] | undefined>)[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const ms = get('retry-after-ms');
  if (ms !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Math.round(parseFloat(ms));
  const ra = get('retry-after');
  if (ra === undefined || ra.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Math.round(parseFloat(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Google's RetryInfo detail ({"@type": ".../google.rpc.RetryInfo", "retryDelay": "3.5s"}) in ms. */
export function googleRetryDelayMs(errorBody: unknown): number | undefined {
  const details = (errorBody as { error?: { details?: unknown } } | undefined)?.error?.details;
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    const type = (d as { '@type'?: unknown })?.['@type'];
    const delay = (d as { retryDelay?: unknown })?.retryDelay;
    if (typeof type === 'string' && type.endsWith('google.rpc.RetryInfo') && typeof delay === 'string') {
      const m = /^(\d+(?:\.\d+)?)s$/.exec(delay.trim());
      if (m) return Math.round(parseFloat(m[1]!) * 1000);
    }
  }
  return undefined;
}

/** Why a signal fired: a deadline ('timeout') or someone stopping the work ('aborted'). */
export function abortKind(reason: unknown): 'timeout' | 'aborted' {
  if (reason instanceof ProviderError) return reason.kind === 'timeout' ? 'timeout' : 'aborted';
  const r = reason as { name?: unknown; code?: unknown; message?: unknown } | null | undefined;
  if (r?.name === 'TimeoutError' || r?.code === 'ETIMEDOUT') return 'timeout';
  const text = typeof reason === 'string' ? reason : typeof r?.message === 'string' ? r.message : '';
  return /time(d)?[ -]?out|deadline/i.test(text) ? 'timeout' : 'aborted';
}

/**
 * A per-call signal that follows `outer` and, with `timeoutMs`, fires by itself with a
 * 'timeout' ProviderError as its reason. Both SDKs add an 'abort' listener to the signal
 * they are given and never remove it; handing them a long-lived signal (the node's
 * shutdown signal) would pile up one listener per call. Our own deadline, rather than the
 * SDKs' timeouts, makes a timeout look the same whatever the SDK makes of the abort.
 * Call dispose() when the call is over.
 */
export function linkSignal(outer: AbortSignal | undefined, timeoutMs?: number): { signal: AbortSignal | undefined; dispose(): void } {
  if (!outer && !timeoutMs) return { signal: undefined, dispose: () => undefined };
  const ac = new AbortController();
  const onAbort = () => ac.abort(outer!.reason);
  if (outer?.aborted) ac.abort(outer.reason);
  else outer?.addEventListener('abort', onAbort, { once: true });
  const timer = timeoutMs ? setTimeout(() => ac.abort(new ProviderError(`no answer within ${timeoutMs} ms`, 'timeout')), timeoutMs) : undefined;
  return {
    signal: ac.signal,
    dispose: () => {
      if (timer) clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * One provider call under our deadline (linkSignal) with its failure classified. `context`
 * is read only when the call fails, so it can include what the call itself captured
 * (genai's response headers).
 */
export async function callWithDeadline<T>(
  outer: AbortSignal | undefined,
  timeoutMs: number | undefined,
  context: () => Omit<ErrorContext, 'signal'>,
  call: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  const link = linkSignal(outer, timeoutMs);
  try {
    return await call(link.signal);
  } catch (err) {
    throw toProviderError(err, { ...context(), signal: link.signal });
  } finally {
    link.dispose();
  }
}

/** Removes secrets, inline data and long base64 runs, and keeps the text short. */
export function scrub(text: string, secrets: readonly string[] = []): string {
  let out = text;
  // Short values would redact ordinary words; real keys and tokens are long.
  for (const s of secrets) if (s && s.length >= 8) out = out.split(s).join('[redacted]');
  out = out
    .replace(/data:[\w.+-]+\/[\w.+-]+;base64,[A-Za-z0-9+/=_-]*/g, 'data:[omitted]')
    .replace(/[A-Za-z0-9+/=_-]{120,}/g, '[omitted]')
    .replace(/\s+/g, ' ')
    .trim();
  return out.length > MAX_DETAIL ? `${out.slice(0, MAX_DETAIL)}…` : out;
}

function origin(url: string | undefined): string {
  if (!url) return '';
  try {
    return ` at ${new URL(url).origin}`;
  } catch {
    return '';
  }
}

/** What an HTTP status means for retrying. */
export function kindForStatus(status: number): ProviderErrorKind {
  if (status === 429) return 'rate-limit';
  if (status === 408) return 'timeout';
  if (status === 401 || status === 403) return 'auth';
  if (status >= 500) return 'server';
  return 'client';
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ESOCKETTIMEDOUT']);

/** The first errno-style code along the cause chain (fetch hides it under `cause`). */
function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Whether a message along the cause chain matches. By message, not by class: SDKs loaded
 * in another realm (jest's VM context) throw TypeErrors that fail `instanceof TypeError`,
 * and genai wraps those in a plain Error ("exception TypeError: fetch failed ...").
 */
function chainSays(err: unknown, re: RegExp): boolean {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && re.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A stand-in for the SDK error kept as `cause`: the class name, code and status, and the
 * scrubbed message. The SDK's own error can hold response bodies and, through undici
 * causes, request details, and loggers serialize causes.
 */
function safeCause(err: unknown, secrets: readonly string[]): Error {
  const e = err as { name?: unknown; constructor?: { name?: string }; message?: unknown; code?: unknown; status?: unknown };
  const out = new Error(scrub(typeof e?.message === 'string' ? e.message : String(err), secrets));
  out.name = typeof e?.constructor?.name === 'string' && e.constructor.name !== 'Object' ? e.constructor.name : typeof e?.name === 'string' ? e.name : 'Error';
  const code = causeCode(err);
  if (code) (out as Error & { code?: string }).code = code;
  if (typeof e?.status === 'number') (out as Error & { status?: number }).status = e.status;
  return out;
}

/** genai puts the whole JSON error body in ApiError.message. */
function parseGoogleBody(message: string): { body?: unknown; said?: string; status?: string } {
  try {
    const body = JSON.parse(message) as { error?: { message?: unknown; status?: unknown } };
    const said = typeof body?.error?.message === 'string' ? body.error.message : undefined;
    const status = typeof body?.error?.status === 'string' ? body.error.status : undefined;
    return { body, said, status };
  } catch {
    return { said: message };
  }
}

/** Classifies anything a provider call threw. Already-classified errors pass through. */
export function toProviderError(err: unknown, ctx: ErrorContext): ProviderError {
  if (err instanceof ProviderError) return err;
  const who = `${ctx.provider} ${ctx.model}`;
  const secrets = ctx.secrets ?? [];
  const cause = safeCause(err, secrets);

  // Our own signal fired: whatever the SDK made of it, the server did nothing wrong.
  if (ctx.signal?.aborted) {
    const kind = abortKind(ctx.signal.reason);
    const reason = ctx.signal.reason;
    const said = reason instanceof ProviderError ? ` (${reason.message})` : '';
    return new ProviderError(`${who}: call ${kind === 'timeout' ? 'timed out' : 'aborted'}${said}`, kind, { cause });
  }

  if (err instanceof OpenAI.APIUserAbortError) return new ProviderError(`${who}: call aborted`, 'aborted', { cause });
  if (err instanceof OpenAI.APIConnectionTimeoutError) return new ProviderError(`${who}: request timed out${origin(ctx.baseURL)}`, 'timeout', { cause });
  if (err instanceof OpenAI.APIConnectionError) {
    const code = causeCode(err.cause);
    const kind = code && TIMEOUT_CODES.has(code) ? 'timeout' : 'network';
    return new ProviderError(`${who}: connection failed${code ? ` (${code})` : ''}${origin(ctx.baseURL)}`, kind, { cause });
  }
  if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
    const status = err.status;
    const kind = kindForStatus(status);
    // OpenAI nests the reason under `error`; some compatible servers put it at the top.
    const said = (err.error as { message?: unknown } | undefined)?.message;
    const detail = scrub(typeof said === 'string' ? said : err.message, secrets);
    const retryAfterMs = kind === 'rate-limit' || kind === 'server' ? parseRetryAfter(err.headers as HeadersLike | undefined) : undefined;
    return new ProviderError(`${who}: HTTP ${status}${detail ? `: ${detail}` : ''}`, kind, { status, retryAfterMs, cause });
  }
  // By name too: a second copy of genai (another version in node_modules) has its own class.
  if (err instanceof GenAiApiError || ((err as Error | null)?.name === 'ApiError' && typeof (err as GenAiApiError).status === 'number')) {
    const status = (err as GenAiApiError).status;
    const kind = kindForStatus(status);
    const g = parseGoogleBody((err as GenAiApiError).message);
    const detail = scrub(g.said ?? '', secrets);
    const retryAfterMs = kind === 'rate-limit' || kind === 'server' ? (parseRetryAfter(ctx.responseHeaders) ?? googleRetryDelayMs(g.body)) : undefined;
    return new ProviderError(`${who}: HTTP ${status}${g.status ? ` ${g.status}` : ''}${detail ? `: ${detail}` : ''}`, kind, { status, retryAfterMs, cause });
  }

  // Plain fetch failures (genai uses the global fetch): the errno code says which.
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'AbortError') return new ProviderError(`${who}: call aborted`, 'aborted', { cause });
  if (name === 'TimeoutError') return new ProviderError(`${who}: request timed out${origin(ctx.baseURL)}`, 'timeout', { cause });
  const code = causeCode(err);
  if (code && TIMEOUT_CODES.has(code)) return new ProviderError(`${who}: request timed out (${code})${origin(ctx.baseURL)}`, 'timeout', { cause });
  if ((code && NETWORK_CODES.has(code)) || chainSays(err, /fetch failed|network error|socket hang up|other side closed/i)) {
    return new ProviderError(`${who}: connection failed${code ? ` (${code})` : ''}${origin(ctx.baseURL)}`, 'network', { cause });
  }
  // A 200 whose body is not JSON: the server's fault, and another try may go better.
  const message = typeof (err as { message?: unknown } | null)?.message === 'string' ? (err as Error).message : String(err);
  if (err instanceof SyntaxError || name === 'SyntaxError')
    return new ProviderError(`${who}: unreadable response: ${scrub(message, secrets)}`, 'server', { cause });
  // Credentials that cannot be loaded or refreshed (google-auth-library): no retry helps.
  if (/credential|invalid_grant|unauthorized_client|access token/i.test(message)) {
    return new ProviderError(`${who}: authentication failed: ${scrub(message, secrets)}`, 'auth', { cause });
  }
  // Anything else is most likely a request we built wrong; repeating it would not help.
  return new ProviderError(`${who}: call failed: ${scrub(message, secrets)}`, 'client', { cause });
}
