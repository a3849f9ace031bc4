"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.parseRetryAfter = parseRetryAfter;
exports.googleRetryDelayMs = googleRetryDelayMs;
exports.abortKind = abortKind;
exports.linkSignal = linkSignal;
exports.scrub = scrub;
exports.kindForStatus = kindForStatus;
exports.toProviderError = toProviderError;
// Turns whatever an SDK threw into a ProviderError whose kind tells ResilientProvider what
// to do next. Messages name the provider, model and status and carry a short, scrubbed
// excerpt of the server's words: never the API key, never the request body (images).
const genai_1 = require("@google/genai");
const openai_1 = __importDefault(require("openai"));
const provider_1 = require("./provider");
const MAX_DETAIL = 300;
/** Milliseconds from `retry-after-ms`, or `retry-after` in seconds or as an HTTP date. */
function parseRetryAfter(headers, now = Date.now()) {
    if (!headers)
        return undefined;
    const get = (name) => {
        if (typeof headers.get === 'function')
            return headers.get(name) ?? undefined;
        const v = headers[name];
        return Array.isArray(v) ? v[0] : v;
    };
    const ms = get('retry-after-ms');
    if (ms !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(ms))
        return Math.round(parseFloat(ms));
    const ra = get('retry-after');
    if (ra === undefined || ra.trim() === '')
        return undefined;
    if (/^\s*\d+(\.\d+)?\s*$/.test(ra))
        return Math.round(parseFloat(ra) * 1000);
    const at = Date.parse(ra);
    return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
/** Google's RetryInfo detail ({"@type": ".../google.rpc.RetryInfo", "retryDelay": "3.5s"}) in ms. */
function googleRetryDelayMs(errorBody) {
    const details = errorBody?.error?.details;
    if (!Array.isArray(details))
        return undefined;
    for (const d of details) {
        const type = d?.['@type'];
        const delay = d?.retryDelay;
        if (typeof type === 'string' && type.endsWith('google.rpc.RetryInfo') && typeof delay === 'string') {
            const m = /^(\d+(?:\.\d+)?)s$/.exec(delay.trim());
            if (m)
                return Math.round(parseFloat(m[1]) * 1000);
        }
    }
    return undefined;
}
/** Why a signal fired: a deadline ('timeout') or someone stopping the work ('aborted'). */
function abortKind(reason) {
    if (reason instanceof provider_1.ProviderError)
        return reason.kind === 'timeout' ? 'timeout' : 'aborted';
    const r = reason;
    if (r?.name === 'TimeoutError' || r?.code === 'ETIMEDOUT')
        return 'timeout';
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
function linkSignal(outer, timeoutMs) {
    if (!outer && !timeoutMs)
        return { signal: undefined, dispose: () => undefined };
    const ac = new AbortController();
    const onAbort = () => ac.abort(outer.reason);
    if (outer?.aborted)
        ac.abort(outer.reason);
    else
        outer?.addEventListener('abort', onAbort, { once: true });
    const timer = timeoutMs ? setTimeout(() => ac.abort(new provider_1.ProviderError(`no answer within ${timeoutMs} ms`, 'timeout')), timeoutMs) : undefined;
    return {
        signal: ac.signal,
        dispose: () => {
            if (timer)
                clearTimeout(timer);
            outer?.removeEventListener('abort', onAbort);
        },
    };
}
/** Removes secrets, inline data and long base64 runs, and keeps the text short. */
function scrub(text, secrets = []) {
    let out = text;
    // Short values would redact ordinary words; real keys and tokens are long.
    for (const s of secrets)
        if (s && s.length >= 8)
            out = out.split(s).join('[redacted]');
    out = out
        .replace(/data:[\w.+-]+\/[\w.+-]+;base64,[A-Za-z0-9+/=_-]*/g, 'data:[omitted]')
        .replace(/[A-Za-z0-9+/=_-]{120,}/g, '[omitted]')
        .replace(/\s+/g, ' ')
        .trim();
    return out.length > MAX_DETAIL ? `${out.slice(0, MAX_DETAIL)}…` : out;
}
function origin(url) {
    if (!url)
        return '';
    try {
        return ` at ${new URL(url).origin}`;
    }
    catch {
        return '';
    }
}
/** What an HTTP status means for retrying. */
function kindForStatus(status) {
    if (status === 429)
        return 'rate-limit';
    if (status === 408)
        return 'timeout';
    if (status === 401 || status === 403)
        return 'auth';
    if (status >= 500)
        return 'server';
    return 'client';
}
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ESOCKETTIMEDOUT']);
/** The first errno-style code along the cause chain (fetch hides it under `cause`). */
function causeCode(err) {
    let e = err;
    for (let i = 0; i < 5 && e; i++) {
        const code = e.code;
        if (typeof code === 'string')
            return code;
        e = e.cause;
    }
    return undefined;
}
/**
 * Whether a message along the cause chain matches. By message, not by class: SDKs loaded
 * in another realm (jest's VM context) throw TypeErrors that fail `instanceof TypeError`,
 * and genai wraps those in a plain Error ("exception TypeError: fetch failed ...").
 */
function chainSays(err, re) {
    let e = err;
    for (let i = 0; i < 5 && e; i++) {
        const message = e.message;
        if (typeof message === 'string' && re.test(message))
            return true;
        e = e.cause;
    }
    return false;
}
/**
 * A stand-in for the SDK error kept as `cause`: the class name, code and status, and the
 * scrubbed message. The SDK's own error can hold response bodies and, through undici
 * causes, request details, and loggers serialize causes.
 */
function safeCause(err, secrets) {
    const e = err;
    const out = new Error(scrub(typeof e?.message === 'string' ? e.message : String(err), secrets));
    out.name = typeof e?.constructor?.name === 'string' && e.constructor.name !== 'Object' ? e.constructor.name : typeof e?.name === 'string' ? e.name : 'Error';
    const code = causeCode(err);
    if (code)
        out.code = code;
    if (typeof e?.status === 'number')
        out.status = e.status;
    return out;
}
/** genai puts the whole JSON error body in ApiError.message. */
function parseGoogleBody(message) {
    try {
        const body = JSON.parse(message);
        const said = typeof body?.error?.message === 'string' ? body.error.message : undefined;
        const status = typeof body?.error?.status === 'string' ? body.error.status : undefined;
        return { body, said, status };
    }
    catch {
        return { said: message };
    }
}
/** Classifies anything a provider call threw. Already-classified errors pass through. */
function toProviderError(err, ctx) {
    if (err instanceof provider_1.ProviderError)
        return err;
    const who = `${ctx.provider} ${ctx.model}`;
    const secrets = ctx.secrets ?? [];
    const cause = safeCause(err, secrets);
    // Our own signal fired: whatever the SDK made of it, the server did nothing wrong.
    if (ctx.signal?.aborted) {
        const kind = abortKind(ctx.signal.reason);
        const reason = ctx.signal.reason;
        const said = reason instanceof provider_1.ProviderError ? ` (${reason.message})` : '';
        return new provider_1.ProviderError(`${who}: call ${kind === 'timeout' ? 'timed out' : 'aborted'}${said}`, kind, { cause });
    }
    if (err instanceof openai_1.default.APIUserAbortError)
        return new provider_1.ProviderError(`${who}: call aborted`, 'aborted', { cause });
    if (err instanceof openai_1.default.APIConnectionTimeoutError)
        return new provider_1.ProviderError(`${who}: request timed out${origin(ctx.baseURL)}`, 'timeout', { cause });
    if (err instanceof openai_1.default.APIConnectionError) {
        const code = causeCode(err.cause);
        const kind = code && TIMEOUT_CODES.has(code) ? 'timeout' : 'network';
        return new provider_1.ProviderError(`${who}: connection failed${code ? ` (${code})` : ''}${origin(ctx.baseURL)}`, kind, { cause });
    }
    if (err instanceof openai_1.default.APIError && typeof err.status === 'number') {
        const status = err.status;
        const kind = kindForStatus(status);
        // OpenAI nests the reason under `error`; some compatible servers put it at the top.
        const said = err.error?.message;
        const detail = scrub(typeof said === 'string' ? said : err.message, secrets);
        const retryAfterMs = kind === 'rate-limit' || kind === 'server' ? parseRetryAfter(err.headers) : undefined;
        return new provider_1.ProviderError(`${who}: HTTP ${status}${detail ? `: ${detail}` : ''}`, kind, { status, retryAfterMs, cause });
    }
    // By name too: a second copy of genai (another version in node_modules) has its own class.
    if (err instanceof genai_1.ApiError || (err?.name === 'ApiError' && typeof err.status === 'number')) {
        const status = err.status;
        const kind = kindForStatus(status);
        const g = parseGoogleBody(err.message);
        const detail = scrub(g.said ?? '', secrets);
        const retryAfterMs = kind === 'rate-limit' || kind === 'server' ? (parseRetryAfter(ctx.responseHeaders) ?? googleRetryDelayMs(g.body)) : undefined;
        return new provider_1.ProviderError(`${who}: HTTP ${status}${g.status ? ` ${g.status}` : ''}${detail ? `: ${detail}` : ''}`, kind, { status, retryAfterMs, cause });
    }
    // Plain fetch failures (genai uses the global fetch): the errno code says which.
    const name = err?.name;
    if (name === 'AbortError')
        return new provider_1.ProviderError(`${who}: call aborted`, 'aborted', { cause });
    if (name === 'TimeoutError')
        return new provider_1.ProviderError(`${who}: request timed out${origin(ctx.baseURL)}`, 'timeout', { cause });
    const code = causeCode(err);
    if (code && TIMEOUT_CODES.has(code))
        return new provider_1.ProviderError(`${who}: request timed out (${code})${origin(ctx.baseURL)}`, 'timeout', { cause });
    if ((code && NETWORK_CODES.has(code)) || chainSays(err, /fetch failed|network error|socket hang up|other side closed/i)) {
        return new provider_1.ProviderError(`${who}: connection failed${code ? ` (${code})` : ''}${origin(ctx.baseURL)}`, 'network', { cause });
    }
    // A 200 whose body is not JSON: the server's fault, and another try may go better.
    const message = typeof err?.message === 'string' ? err.message : String(err);
    if (err instanceof SyntaxError || name === 'SyntaxError')
        return new provider_1.ProviderError(`${who}: unreadable response: ${scrub(message, secrets)}`, 'server', { cause });
    // Credentials that cannot be loaded or refreshed (google-auth-library): no retry helps.
    if (/credential|invalid_grant|unauthorized_client|access token/i.test(message)) {
        return new provider_1.ProviderError(`${who}: authentication failed: ${scrub(message, secrets)}`, 'auth', { cause });
    }
    // Anything else is most likely a request we built wrong; repeating it would not help.
    return new provider_1.ProviderError(`${who}: call failed: ${scrub(message, secrets)}`, 'client', { cause });
}
//# sourceMappingURL=provider-errors.js.map