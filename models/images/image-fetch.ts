// The HTTP(S) fetch of an image URL: every hop (redirects included) goes through the
// address policy first and connects to the address it checked; sizes are capped while the
// body streams. Failures are refusals (dead letters) or transient (retried).
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { LookupAll, resolvePublic } from './address-policy';
import { ImageRefusedError, redactUrl, transient } from './image-errors';

export interface FetchLimits {
  maxBytes: number;
  maxRedirects: number;
  allowPrivateNetworks: boolean;
  lookup: LookupAll;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRIABLE_NET = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

type HopResult = { kind: 'body'; bytes: Buffer } | { kind: 'redirect'; location: string };

/** The body of an http(s) URL, following at most maxRedirects redirects; `source` is the redacted URL. */
export async function fetchUrl(uri: string, signal: AbortSignal, limits: FetchLimits): Promise<{ bytes: Buffer; source: string }> {
  const source = redactUrl(uri);
  let current: URL;
  try {
    current = new URL(uri);
  } catch {
    throw new ImageRefusedError(source, 'invalid URL');
  }
  for (let hop = 0; ; hop++) {
    const here = redactUrl(current);
    const where = hop === 0 ? source : `${source}, redirected to ${here}`;
    const pinned = await resolvePublic(current, where, signal, limits);
    const r = await get(current, pinned, where, signal, limits.maxBytes);
    if (r.kind === 'body') return { bytes: r.bytes, source };
    let next: URL;
    try {
      next = new URL(r.location, current);
    } catch {
      throw new ImageRefusedError(where, 'redirect to an invalid Location');
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new ImageRefusedError(where, `redirect to unsupported scheme '${next.protocol}'`);
    }
    if (hop >= limits.maxRedirects) {
      throw new ImageRefusedError(where, `more than images.maxRedirects (${limits.maxRedirects}) redirects (next: ${redactUrl(next)})`);
    }
    current = next;
  }
}

// One request to the pinned address: a body, a redirect to follow, or an error.
function get(url: URL, pinned: { address: string; family: number }, where: string, signal: AbortSignal, maxBytes: number): Promise<HopResult> {
  return new Promise<HopResult>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    const fail = (err: unknown) => settle(() => reject(err));
    const netFail = (err: unknown) => {
      if (signal.aborted) return fail(err); // load() turns it into a timeout/abort error
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (RETRIABLE_NET.has(code) || (err as Error).message === 'aborted') fail(transient(where, `connection failed: ${(err as Error).message}`, err));
      else fail(new ImageRefusedError(where, `request failed: ${(err as Error).message}`, { cause: err }));
    };
    // The connection goes to the address that was checked, never to a second DNS
    // answer (DNS rebinding); the URL's hostname still sets Host, SNI and the
    // certificate check. Node 20 asks with { all: true } when autoSelectFamily is on.
    const lookup = (_h: string, opts: { all?: boolean } | number, cb: (...args: unknown[]) => void) => {
      if (typeof opts === 'object' && opts?.all) cb(null, [pinned]);
      else cb(null, pinned.address, pinned.family);
    };
    const mod = url.protocol === 'https:' ? https : http;
    let req: http.ClientRequest;
    try {
      req = mod.request({
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { accept: 'image/*', 'accept-encoding': 'identity', 'user-agent': 'valor-stream' },
        auth: url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
        agent: false, // no pooled socket can outlive the address check
        lookup: lookup as unknown as net.LookupFunction,
        signal,
      });
    } catch (err) {
      return fail(new ImageRefusedError(where, `cannot build request: ${(err as Error).message}`, { cause: err }));
    }
    req.on('error', netFail);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', netFail);
      if (REDIRECTS.has(status)) {
        const location = res.headers.location;
        res.destroy();
        if (!location) return fail(new ImageRefusedError(where, `HTTP ${status} redirect without a Location`));
        return settle(() => resolve({ kind: 'redirect', location }));
      }
      if (status === 408 || status === 429 || status >= 500) {
        res.destroy();
        return fail(transient(where, `HTTP ${status}`));
      }
      if (status < 200 || status >= 300) {
        res.destroy();
        return fail(new ImageRefusedError(where, `HTTP ${status}`));
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.destroy();
        return fail(new ImageRefusedError(where, `Content-Length ${declared} is over images.maxBytes ${maxBytes}`));
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (c: Buffer) => {
        total += c.length;
        if (total > maxBytes) {
          res.destroy();
          req.destroy();
          return fail(new ImageRefusedError(where, `body is over images.maxBytes ${maxBytes}`));
        }
        chunks.push(c);
      });
      res.on('end', () => settle(() => resolve({ kind: 'body', bytes: Buffer.concat(chunks, total) })));
      res.on('close', () => {
        if (!res.complete) netFail(Object.assign(new Error('connection closed before the body was complete'), { code: 'ECONNRESET' }));
      });
    });
    req.end();
  });
}
