import { getEventListeners } from 'node:events';
import { ApiError } from '@google/genai';
import OpenAI from 'openai';
import { ProviderError } from './provider';
import { abortKind, googleRetryDelayMs, kindForStatus, linkSignal, parseRetryAfter, scrub, toProviderError } from './provider-errors';

const ctx = { provider: 'openai-chat', model: 'm1', secrets: ['sk-secret-abcdefghijklmnop'] };

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it.each([
    [{ 'retry-after-ms': '1500' }, 1500],
    [{ 'retry-after-ms': '250.4', 'retry-after': '9' }, 250],
    [{ 'retry-after': '2' }, 2000],
    [{ 'retry-after': '0.5' }, 500],
    [{ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }, 7000],
    [{ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, 0],
    [{ 'retry-after': 'soon' }, undefined],
    [{ 'retry-after-ms': 'x', 'retry-after': '3' }, 3000],
    [{}, undefined],
  ])('%j -> %s ms', (headers, ms) => {
    expect(parseRetryAfter(headers, now)).toBe(ms);
    expect(parseRetryAfter(new Headers(headers as Record<string, string>), now)).toBe(ms);
  });
  it('takes header arrays and nothing', () => {
    expect(parseRetryAfter({ 'retry-after': ['4', '5'] })).toBe(4000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('googleRetryDelayMs', () => {
  it('reads RetryInfo from the error details', () => {
    const body = {
      error: {
        code: 429,
        details: [{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure' }, { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.250s' }],
      },
    };
    expect(googleRetryDelayMs(body)).toBe(1250);
    expect(googleRetryDelayMs({ error: { code: 429 } })).toBeUndefined();
    expect(googleRetryDelayMs('nope')).toBeUndefined();
  });
});

describe('abortKind', () => {
  it.each([
    [new ProviderError('no answer within 5 ms', 'timeout'), 'timeout'],
    [new ProviderError('stop', 'aborted'), 'aborted'],
    [new DOMException('signal timed out', 'TimeoutError'), 'timeout'],
    [new DOMException('This operation was aborted', 'AbortError'), 'aborted'],
    [new Error('deadline exceeded'), 'timeout'],
    ['call timed out', 'timeout'],
    [new Error('node stopping'), 'aborted'],
    [undefined, 'aborted'],
  ])('%s -> %s', (reason, kind) => expect(abortKind(reason)).toBe(kind));
});

describe('kindForStatus', () => {
  it.each([
    [429, 'rate-limit'],
    [408, 'timeout'],
    [401, 'auth'],
    [403, 'auth'],
    [400, 'client'],
    [404, 'client'],
    [422, 'client'],
    [500, 'server'],
    [502, 'server'],
    [503, 'server'],
  ])('%s -> %s', (status, kind) => expect(kindForStatus(status)).toBe(kind));
});

describe('toProviderError', () => {
  it('classifies openai SDK errors with status and Retry-After', () => {
    const headers = new Headers({ 'retry-after': '3' });
    const e = toProviderError(OpenAI.APIError.generate(429, { error: { message: 'slow down' } }, undefined, headers), ctx);
    expect(e).toMatchObject({ kind: 'rate-limit', status: 429, retryAfterMs: 3000, retriable: true, message: 'openai-chat m1: HTTP 429: slow down' });
    const e5 = toProviderError(OpenAI.APIError.generate(503, { error: { message: 'overloaded' } }, undefined, new Headers({ 'retry-after-ms': '800' })), ctx);
    expect(e5).toMatchObject({ kind: 'server', status: 503, retryAfterMs: 800 });
    const e4 = toProviderError(OpenAI.APIError.generate(400, { error: { message: 'bad' } }, undefined, headers), ctx);
    expect(e4).toMatchObject({ kind: 'client', retryAfterMs: undefined, retriable: false });
    expect(toProviderError(new OpenAI.APIConnectionTimeoutError(), ctx).kind).toBe('timeout');
    expect(toProviderError(new OpenAI.APIUserAbortError(), ctx).kind).toBe('aborted');
    const refused = new OpenAI.APIConnectionError({
      message: 'Connection error.',
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    expect(toProviderError(refused, { ...ctx, baseURL: 'http://user:pw@10.0.0.1:8000/v1' })).toMatchObject({
      kind: 'network',
      message: 'openai-chat m1: connection failed (ECONNREFUSED) at http://10.0.0.1:8000',
    });
  });

  it('classifies genai ApiErrors from the JSON body in their message', () => {
    const body = {
      error: {
        code: 429,
        message: 'Resource exhausted.',
        status: 'RESOURCE_EXHAUSTED',
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '6s' }],
      },
    };
    const e = toProviderError(new ApiError({ message: JSON.stringify(body), status: 429 }), { ...ctx, provider: 'gemini-vertex' });
    expect(e).toMatchObject({
      kind: 'rate-limit',
      status: 429,
      retryAfterMs: 6000,
      message: 'gemini-vertex m1: HTTP 429 RESOURCE_EXHAUSTED: Resource exhausted.',
    });
    // A Retry-After header wins over RetryInfo.
    const h = toProviderError(new ApiError({ message: JSON.stringify(body), status: 429 }), { ...ctx, responseHeaders: new Headers({ 'retry-after': '1' }) });
    expect(h.retryAfterMs).toBe(1000);
    expect(toProviderError(new ApiError({ message: 'not json', status: 503 }), ctx)).toMatchObject({
      kind: 'server',
      message: 'openai-chat m1: HTTP 503: not json',
    });
  });

  it('an aborted signal decides, whatever the SDK threw', () => {
    const ac = new AbortController();
    ac.abort(new ProviderError('no answer within 10 ms', 'timeout'));
    expect(toProviderError(new Error('anything'), { ...ctx, signal: ac.signal })).toMatchObject({
      kind: 'timeout',
      message: 'openai-chat m1: call timed out (no answer within 10 ms)',
    });
    const stop = new AbortController();
    stop.abort();
    expect(toProviderError(new OpenAI.APIConnectionError({ message: 'x' }), { ...ctx, signal: stop.signal }).kind).toBe('aborted');
  });

  it('classifies raw fetch failures by code and by message', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
    expect(toProviderError(refused, ctx).kind).toBe('network');
    expect(toProviderError(new Error('exception TypeError: fetch failed sending request'), ctx).kind).toBe('network');
    expect(toProviderError(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }) }), ctx).kind).toBe(
      'timeout',
    );
    expect(toProviderError(new SyntaxError('Unexpected token < in JSON'), ctx).kind).toBe('server');
    expect(toProviderError(new Error('Could not load the default credentials.'), ctx).kind).toBe('auth');
    expect(toProviderError(new Error('weird'), ctx).kind).toBe('client');
    const already = new ProviderError('x', 'server');
    expect(toProviderError(already, ctx)).toBe(already);
  });

  it('never shows the key or request data, in the message or the cause', () => {
    const echoed = OpenAI.APIError.generate(
      401,
      { error: { message: `Incorrect API key provided: sk-secret-abcdefghijklmnop for image data:image/png;base64,${'A'.repeat(500)}` } },
      undefined,
      new Headers(),
    );
    const e = toProviderError(echoed, ctx);
    expect(e.kind).toBe('auth');
    for (const seen of [e.message, JSON.stringify(e), String((e.cause as Error).message), String(e.stack)]) {
      expect(seen).not.toContain('sk-secret-abcdefghijklmnop');
      expect(seen).not.toContain('AAAAAAAAAA');
    }
    expect(e.message).toContain('[redacted]');
    expect((e.cause as Error).name).toBe('AuthenticationError');
  });
});

describe('scrub and linkSignal', () => {
  it('scrub redacts, drops inline data and truncates', () => {
    expect(scrub('key sk-secret-abcdefghijklmnop!', ctx.secrets)).toBe('key [redacted]!');
    expect(scrub('x'.repeat(100) + ' ' + 'y'.repeat(400))).toMatch(/^x{100} \[omitted\]$/);
    expect(scrub('word '.repeat(200)).length).toBeLessThanOrEqual(301);
    // Short "secrets" would redact ordinary words.
    expect(scrub('a b c', ['b'])).toBe('a b c');
  });

  it('linkSignal follows the outer signal, fires on its deadline and cleans up', async () => {
    const outer = new AbortController();
    const a = linkSignal(outer.signal);
    expect(getEventListeners(outer.signal, 'abort')).toHaveLength(1);
    outer.abort('stop');
    expect(a.signal!.aborted).toBe(true);
    expect(a.signal!.reason).toBe('stop');

    const outer2 = new AbortController();
    const b = linkSignal(outer2.signal, 20);
    await new Promise((r) => setTimeout(r, 40));
    expect(b.signal!.reason).toBeInstanceOf(ProviderError);
    expect((b.signal!.reason as ProviderError).kind).toBe('timeout');
    b.dispose();
    expect(getEventListeners(outer2.signal, 'abort')).toHaveLength(0);

    expect(linkSignal(undefined).signal).toBeUndefined();
    const pre = new AbortController();
    pre.abort('early');
    expect(linkSignal(pre.signal).signal!.reason).toBe('early');
  });
});
