// The address policy: which file paths and which URLs an image may be read from. Refs come
// from untrusted event streams, so file paths must lie under configured roots (symlinks
// included) and URLs must resolve to public addresses only (SSRF, DNS rebinding).
import * as dns from 'node:dns';
import { promises as fsp, realpathSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ConfigError } from '../../core/errors';
import { fsError, ImageRefusedError, transient } from './image-errors';

export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const defaultLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

// ---- files ----

/** The directories file paths may be read from (images.allowedRoots). */
export class FileRoots {
  /** [configured root resolved, its realpath] */
  private readonly roots: Array<[string, string]>;

  constructor(allowedRoots: string[]) {
    // Roots are realpath'd once, at start-up, so a missing root is a config error rather
    // than a per-record failure, and symlinked roots (e.g. /tmp on macOS) still match.
    this.roots = allowedRoots.map((r) => {
      const abs = path.resolve(r);
      try {
        return [abs, realpathSync(abs)];
      } catch (err) {
        throw new ConfigError(`images.allowedRoots: cannot resolve '${r}': ${(err as Error).message}`);
      }
    });
  }

  /** The real path of `p` if it lies under a root, through every symlink; refuses it otherwise. */
  async resolve(p: string, display: string): Promise<string> {
    if (this.roots.length === 0) {
      throw new ImageRefusedError(display, 'file paths are refused: configure images.allowedRoots with the directories images may be read from');
    }
    const abs = path.resolve(p);
    // Checked lexically first so a refused path does not reveal whether it exists.
    if (!this.under(abs)) throw new ImageRefusedError(display, 'path is outside images.allowedRoots');
    let real: string;
    try {
      real = await fsp.realpath(abs);
    } catch (err) {
      throw fsError(err, display);
    }
    // realpath resolves every symlink, so a link inside a root cannot point out of it.
    if (!this.under(real)) throw new ImageRefusedError(display, `path resolves to ${real}, outside images.allowedRoots`);
    return real;
  }

  private under(p: string): boolean {
    return this.roots.some(([abs, real]) => [abs, real].some((root) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep)));
  }
}

// ---- URLs ----

/**
 * Resolves the URL's host and checks every address (unless private networks are allowed);
 * the first one is used for the connection.
 */
export async function resolvePublic(
  url: URL,
  where: string,
  signal: AbortSignal,
  opts: { lookup: LookupAll; allowPrivateNetworks: boolean },
): Promise<{ address: string; family: number }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addrs: Array<{ address: string; family: number }>;
  if (net.isIP(host)) addrs = [{ address: host, family: net.isIP(host) }];
  else {
    try {
      addrs = await raceAbort(opts.lookup(host), signal);
    } catch (err) {
      if (signal.aborted) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') throw new ImageRefusedError(where, `host '${host}' not found`, { cause: err });
      throw transient(where, `DNS lookup of '${host}' failed: ${(err as Error).message}`, err);
    }
  }
  if (addrs.length === 0) throw new ImageRefusedError(where, `host '${host}' has no addresses`);
  if (!opts.allowPrivateNetworks) {
    for (const a of addrs) {
      const why = nonPublicReason(a.address);
      if (why) {
        throw new ImageRefusedError(where, `host '${host}' resolves to ${a.address} (${why}); set images.allowPrivateNetworks to allow non-public addresses`);
      }
    }
  }
  return addrs[0]!;
}

// Address ranges that are not public unicast, by why they are refused.
type Cidr4 = [number, number, string];
const V4_BLOCKED: Cidr4[] = [
  [0x00000000, 8, 'this-network'],
  [0x0a000000, 8, 'private'],
  [0x64400000, 10, 'carrier-grade NAT'],
  [0x7f000000, 8, 'loopback'],
  [0xa9fe0000, 16, 'link-local'],
  [0xac100000, 12, 'private'],
  [0xc0000000, 24, 'IETF protocol assignments'],
  [0xc0a80000, 16, 'private'],
  [0xc6120000, 15, 'benchmarking'],
  [0xe0000000, 4, 'multicast'],
  [0xf0000000, 4, 'reserved/broadcast'],
];

function parseV4(ip: string): number {
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

function blockedV4(n: number): string | null {
  for (const [base, bits, why] of V4_BLOCKED) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if ((n & mask) >>> 0 === base) return why;
  }
  return null;
}

/** Eight 16-bit groups of an IPv6 address (zone id dropped, trailing dotted quad allowed). */
function parseV6(ip: string): number[] {
  let s = ip.split('%')[0]!.toLowerCase();
  const tail: number[] = [];
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const v = parseV4(dotted[2]!);
    tail.push(v >>> 16, v & 0xffff);
    s = dotted[1]!.endsWith('::') ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const groups = (x: string | undefined) => (x ? x.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const r = groups(rest);
  const zeros = rest !== undefined ? 8 - h.length - r.length - tail.length : 0;
  return [...h, ...new Array<number>(zeros).fill(0), ...r, ...tail];
}

function blockedV6(g: number[]): string | null {
  const embeddedV4 = (hi: number, lo: number) => ((hi << 16) >>> 0) + lo;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(7) && g[7] === 0) return 'unspecified';
  if (zeroUpTo(7) && g[7] === 1) return 'loopback';
  // Addresses that carry an IPv4 address are judged by it: mapped, compatible, NAT64, 6to4.
  if (zeroUpTo(5) && g[5] === 0xffff) return blockedV4(embeddedV4(g[6]!, g[7]!));
  if (zeroUpTo(6)) return blockedV4(embeddedV4(g[6]!, g[7]!));
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return blockedV4(embeddedV4(g[6]!, g[7]!));
  if (g[0] === 0x2002) return blockedV4(embeddedV4(g[1]!, g[2]!));
  if ((g[0]! & 0xfe00) === 0xfc00) return 'unique-local';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xffc0) === 0xfec0) return 'site-local';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  return null;
}

/** Why an address is not a public unicast one (null when it is). */
export function nonPublicReason(address: string): string | null {
  const v = net.isIP(address.split('%')[0]!);
  if (v === 4) return blockedV4(parseV4(address));
  if (v === 6) return blockedV6(parseV6(address));
  return 'not an IP address';
}

// dns.promises.lookup takes no signal: stop waiting for it on abort.
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
