// Who may use the review server, and how a browser is kept from being used against it.
//
// - It binds 127.0.0.1 by default. Binding any other address without a token is refused: the
//   page writes to the training set, so nobody on the network may use it unasked.
// - With a token every request must carry it: `?token=` (which also sets an HttpOnly,
//   SameSite=Strict cookie, so the page's own requests carry it), the cookie, or
//   `Authorization: Bearer`.
// - On loopback the Host header must name the server (127.0.0.1, localhost or [::1] and its
//   port): a DNS-rebinding page reaches 127.0.0.1 under its own name and is refused.
// - A write needs `Content-Type: application/json` (an HTML form cannot send it), the page's
//   per-server CSRF token in `X-Valor-Csrf`, an Origin (when sent) equal to the server's own,
//   and no cross-site or same-site `Sec-Fetch-Site` (another port of localhost is same-site).
// - Every answer says nosniff, a CSP that allows only this origin, no framing, no referrer;
//   there are no CORS headers, so other origins cannot read answers.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type * as http from 'node:http';
import * as net from 'node:net';

export const CSRF_HEADER = 'x-valor-csrf';

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/** Throws unless the bind is safe: a non-loopback address needs a token. */
export function checkBind(host: string, token: string | undefined): void {
  if (token !== undefined && !token) throw new Error('the review token is empty: pass a non-empty --token (or VALOR_REVIEW_TOKEN)');
  if (!isLoopbackHost(host) && !token)
    throw new Error(
      `refusing to serve the review page on ${host} without a token: anyone who can reach it could change the training set. Pass --token <secret> (or set VALOR_REVIEW_TOKEN), or bind 127.0.0.1`,
    );
}

const digest = (s: string) => createHash('sha256').update(s).digest();
/** Constant-time: the comparison does not tell how much of a guess was right. */
const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export type Refusal = { status: number; message: string };

export class ReviewSecurity {
  /** Embedded in the page; required on every write. */
  readonly csrf: string;
  private readonly hosts: Set<string> | null;
  /** Per port: cookies are not port-scoped, and two servers on one host must not mix. */
  readonly cookieName: string;

  constructor(private readonly o: { host: string; port: number; token?: string; csrf?: string }) {
    this.csrf = o.csrf ?? newCsrfToken();
    this.cookieName = `valor_review_${o.port}`;
    const h = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
    this.hosts = isLoopbackHost(o.host) ? new Set([h, '127.0.0.1', 'localhost', '[::1]'].map((x) => `${x.toLowerCase()}:${o.port}`)) : null;
  }

  /** Headers of every answer. */
  headers(res: http.ServerResponse): void {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
  }

  /**
   * Host and token checks of any request. Returns the Set-Cookie value when the request
   * brought a good `?token=`, null when it may go on without one, or the refusal.
   */
  admit(req: http.IncomingMessage, url: URL): Refusal | { setCookie: string | null } {
    if (this.hosts && !this.hosts.has((req.headers.host ?? '').toLowerCase()))
      return { status: 403, message: `unexpected Host '${req.headers.host ?? ''}': open the review page at the address the server printed` };
    const token = this.o.token;
    if (!token) return { setCookie: null };
    const query = url.searchParams.get('token');
    if (query !== null && same(query, token)) return { setCookie: `${this.cookieName}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` };
    const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (auth && same(auth[1]!.trim(), token)) return { setCookie: null };
    const cookie = cookieValue(req.headers.cookie, this.cookieName);
    if (cookie !== null && same(cookie, token)) return { setCookie: null };
    return { status: 401, message: 'this review server needs its token: open the URL it printed (with ?token=) or send Authorization: Bearer <token>' };
  }

  /** Refuses reads of the API from another site (answers are unreadable there anyway, but side channels are not). */
  checkApiRead(req: http.IncomingMessage): Refusal | null {
    return req.headers['sec-fetch-site'] === 'cross-site' ? { status: 403, message: 'cross-site requests are refused' } : null;
  }

  /** The checks of a write (see the header of this file). */
  checkWrite(req: http.IncomingMessage): Refusal | null {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return { status: 403, message: `a write needs Content-Type: application/json (got '${type}')` };
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') return { status: 403, message: `${site} writes are refused` };
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`)
      return { status: 403, message: `a write from origin '${origin}' is refused: only the review page itself may write` };
    const csrf = req.headers[CSRF_HEADER];
    if (typeof csrf !== 'string' || !same(csrf, this.csrf)) return { status: 403, message: `a write needs the page's ${CSRF_HEADER} header` };
    return null;
  }
}

export const newCsrfToken = (): string => randomBytes(24).toString('base64url');

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}
