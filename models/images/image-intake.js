"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.ImageIntake = exports.ImageRefusedError = exports.imageIntakeConfig = exports.IMAGE_FORMATS = void 0;
exports.redactUrl = redactUrl;
exports.nonPublicReason = nonPublicReason;
// Image intake: turns an ImageRef (inline bytes, a file path or an http(s) URL) into
// checked bytes. Refs come from untrusted event streams, so every way in is fenced:
// file paths only under configured roots, URLs only to public addresses (SSRF), sizes,
// pixel counts and formats capped before anything is decoded.
const dns = __importStar(require("node:dns"));
const node_fs_1 = require("node:fs");
const http = __importStar(require("node:http"));
const https = __importStar(require("node:https"));
const net = __importStar(require("node:net"));
const path = __importStar(require("node:path"));
const node_url_1 = require("node:url");
const sharp_1 = __importDefault(require("sharp"));
const zod_1 = require("zod");
const errors_1 = require("../../core/errors");
const ids_1 = require("../../core/ids");
/**
 * Formats sharp's prebuilt libvips reads from a buffer (see `sharp.format`). BMP is not
 * among them (it needs ImageMagick), so it cannot be allowed. `heif` covers AVIF only in
 * the prebuilt binaries (no HEVC decoder); SVG is allowed only on request, as rendering a
 * vector document is a different risk from decoding pixels.
 */
exports.IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'svg'];
exports.imageIntakeConfig = zod_1.z
    .object({
    /** Directories file paths may be read from; empty refuses every file path. */
    allowedRoots: zod_1.z.array(zod_1.z.string().min(1)).default([]),
    /** Allow URLs that resolve to loopback/private/link-local addresses (tests, on-prem stores). */
    allowPrivateNetworks: zod_1.z.boolean().default(false),
    maxBytes: zod_1.z.number().int().positive().default(20 * 1024 * 1024),
    /** width x height read from the header, checked before any decoding. */
    maxPixels: zod_1.z.number().int().positive().default(40_000_000),
    /** Deadline for a whole load: DNS, every redirect hop and the body. */
    timeoutMs: zod_1.z.number().int().positive().default(10_000),
    maxRedirects: zod_1.z.number().int().min(0).default(3),
    allowedFormats: zod_1.z.array(zod_1.z.enum(exports.IMAGE_FORMATS)).min(1).default(['jpeg', 'png', 'webp', 'gif', 'tiff']),
})
    .strict();
/** The image is refused for good: another attempt would get the same answer. */
class ImageRefusedError extends errors_1.ValidationError {
    source;
    reason;
    constructor(source, reason, opts = {}) {
        super(`image refused (${source}): ${reason}`, opts);
        this.source = source;
        this.reason = reason;
    }
}
exports.ImageRefusedError = ImageRefusedError;
function transient(source, reason, cause) {
    return new errors_1.ProcessingError(`image load failed (${source}): ${reason}`, { retriable: true, cause });
}
const defaultLookup = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });
/** A URL without userinfo, query or fragment, which may carry secrets (signed URLs, tokens). */
function redactUrl(u) {
    try {
        const url = typeof u === 'string' ? new URL(u) : u;
        return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
    }
    catch {
        return '<invalid URL>';
    }
}
const V4_BLOCKED = [
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
function parseV4(ip) {
    return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}
function blockedV4(n) {
    for (const [base, bits, why] of V4_BLOCKED) {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        if ((n & mask) >>> 0 === base)
            return why;
    }
    return null;
}
/** Eight 16-bit groups of an IPv6 address (zone id dropped, trailing dotted quad allowed). */
function parseV6(ip) {
    let s = ip.split('%')[0].toLowerCase();
    const tail = [];
    const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
    if (dotted) {
        const v = parseV4(dotted[2]);
        tail.push(v >>> 16, v & 0xffff);
        s = dotted[1].endsWith('::') ? dotted[1] : dotted[1].slice(0, -1);
    }
    const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
    const groups = (x) => (x ? x.split(':').map((g) => parseInt(g, 16)) : []);
    const h = groups(head);
    const r = groups(rest);
    const zeros = rest !== undefined ? 8 - h.length - r.length - tail.length : 0;
    return [...h, ...new Array(zeros).fill(0), ...r, ...tail];
}
function blockedV6(g) {
    const embeddedV4 = (hi, lo) => ((hi << 16) >>> 0) + lo;
    const zeroUpTo = (n) => g.slice(0, n).every((x) => x === 0);
    if (zeroUpTo(7) && g[7] === 0)
        return 'unspecified';
    if (zeroUpTo(7) && g[7] === 1)
        return 'loopback';
    // Addresses that carry an IPv4 address are judged by it: mapped, compatible, NAT64, 6to4.
    if (zeroUpTo(5) && g[5] === 0xffff)
        return blockedV4(embeddedV4(g[6], g[7]));
    if (zeroUpTo(6))
        return blockedV4(embeddedV4(g[6], g[7]));
    if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))
        return blockedV4(embeddedV4(g[6], g[7]));
    if (g[0] === 0x2002)
        return blockedV4(embeddedV4(g[1], g[2]));
    if ((g[0] & 0xfe00) === 0xfc00)
        return 'unique-local';
    if ((g[0] & 0xffc0) === 0xfe80)
        return 'link-local';
    if ((g[0] & 0xffc0) === 0xfec0)
        return 'site-local';
    if ((g[0] & 0xff00) === 0xff00)
        return 'multicast';
    return null;
}
/** Why an address is not a public unicast one (null when it is). */
function nonPublicReason(address) {
    const v = net.isIP(address.split('%')[0]);
    if (v === 4)
        return blockedV4(parseV4(address));
    if (v === 6)
        return blockedV6(parseV6(address));
    return 'not an IP address';
}
// ---- the intake ----
const MEDIA_TYPES = {
    jpeg: 'image/jpeg',
    png: 'image/png',
    webp: 'image/webp',
    gif: 'image/gif',
    tiff: 'image/tiff',
    heif: 'image/heif',
    svg: 'image/svg+xml',
};
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRIABLE_NET = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'EAI_AGAIN', 'ECONNABORTED']);
class Deadline {
}
class ImageIntake {
    config;
    /** [configured root resolved, its realpath] */
    roots;
    lookup;
    constructor(cfg = {}, deps = {}) {
        const parsed = exports.imageIntakeConfig.safeParse(cfg);
        if (!parsed.success) {
            const issues = parsed.error.issues.map((i) => `images.${i.path.join('.')}: ${i.message}`).join('; ');
            throw new errors_1.ConfigError(`invalid image intake config: ${issues}`);
        }
        this.config = parsed.data;
        for (const f of this.config.allowedFormats) {
            if (!sharp_1.default.format[f]?.input.buffer)
                throw new errors_1.ConfigError(`images.allowedFormats: this sharp build cannot read '${f}'`);
        }
        // Roots are realpath'd once, at start-up, so a missing root is a config error rather
        // than a per-record failure, and symlinked roots (e.g. /tmp on macOS) still match.
        this.roots = this.config.allowedRoots.map((r) => {
            const abs = path.resolve(r);
            try {
                return [abs, (0, node_fs_1.realpathSync)(abs)];
            }
            catch (err) {
                throw new errors_1.ConfigError(`images.allowedRoots: cannot resolve '${r}': ${err.message}`);
            }
        });
        this.lookup = deps.lookup ?? defaultLookup;
    }
    async load(ref, signal) {
        if (ref.bytes && ref.bytes.length > 0) {
            return this.inspect(Buffer.isBuffer(ref.bytes) ? ref.bytes : Buffer.from(ref.bytes), 'inline', ref);
        }
        const uri = ref.uri?.trim();
        if (!uri)
            throw new ImageRefusedError('image ref', 'it has neither bytes nor a uri');
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(new Deadline()), this.config.timeoutMs);
        const onAbort = () => ac.abort(signal.reason);
        if (signal?.aborted)
            onAbort();
        else
            signal?.addEventListener('abort', onAbort, { once: true });
        try {
            const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
            let got;
            if (scheme === undefined)
                got = await this.readFile(uri, uri, ac.signal);
            else if (scheme === 'file') {
                let p;
                try {
                    p = (0, node_url_1.fileURLToPath)(uri);
                }
                catch (err) {
                    throw new ImageRefusedError(redactUrl(uri), `not a local file URL: ${err.message}`);
                }
                got = await this.readFile(p, p, ac.signal);
            }
            else if (scheme === 'http' || scheme === 'https')
                got = await this.fetchUrl(uri, ac.signal);
            else
                throw new ImageRefusedError(redactUrl(uri), `unsupported URI scheme '${scheme}:' (only file paths, file:, http: and https:)`);
            return await this.inspect(got.bytes, got.source, ref);
        }
        catch (err) {
            throw this.abortError(err, ac.signal, uri);
        }
        finally {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
        }
    }
    // Whatever an aborted operation threw, say why it was aborted.
    abortError(err, s, uri) {
        if (!s.aborted || err instanceof ImageRefusedError)
            return err;
        const src = /^[a-z][a-z0-9+.-]*:/i.test(uri) ? redactUrl(uri) : uri;
        if (s.reason instanceof Deadline)
            return transient(src, `timed out after ${this.config.timeoutMs} ms (images.timeoutMs)`, err);
        return transient(src, 'aborted', s.reason ?? err);
    }
    // ---- files ----
    under(p) {
        return this.roots.some(([abs, real]) => [abs, real].some((root) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep)));
    }
    async readFile(p, display, signal) {
        if (this.roots.length === 0) {
            throw new ImageRefusedError(display, 'file paths are refused: configure images.allowedRoots with the directories images may be read from');
        }
        const abs = path.resolve(p);
        // Checked lexically first so a refused path does not reveal whether it exists.
        if (!this.under(abs))
            throw new ImageRefusedError(display, 'path is outside images.allowedRoots');
        let real;
        try {
            real = await node_fs_1.promises.realpath(abs);
        }
        catch (err) {
            throw this.fsError(err, display);
        }
        // realpath resolves every symlink, so a link inside a root cannot point out of it.
        if (!this.under(real))
            throw new ImageRefusedError(display, `path resolves to ${real}, outside images.allowedRoots`);
        let fh;
        try {
            // O_NOFOLLOW: the last component cannot be swapped for a link after the check;
            // O_NONBLOCK: opening a FIFO does not hang (it is refused below as not a file).
            fh = await node_fs_1.promises.open(real, node_fs_1.constants.O_RDONLY | node_fs_1.constants.O_NOFOLLOW | node_fs_1.constants.O_NONBLOCK);
            const st = await fh.stat();
            if (!st.isFile())
                throw new ImageRefusedError(display, 'not a regular file');
            if (st.size > this.config.maxBytes)
                throw new ImageRefusedError(display, `file is ${st.size} bytes, over images.maxBytes ${this.config.maxBytes}`);
            const bytes = await fh.readFile({ signal });
            return { bytes, source: real };
        }
        catch (err) {
            throw this.fsError(err, display);
        }
        finally {
            await fh?.close();
        }
    }
    fsError(err, display) {
        if (err instanceof ImageRefusedError)
            return err;
        const code = err.code;
        if (code === 'ENOENT' || code === 'ENOTDIR')
            return new ImageRefusedError(display, 'file not found', { cause: err });
        if (code === 'EACCES' || code === 'EPERM')
            return new ImageRefusedError(display, 'permission denied', { cause: err });
        if (code === 'ELOOP')
            return new ImageRefusedError(display, 'symlink loop', { cause: err });
        if (code === 'EISDIR')
            return new ImageRefusedError(display, 'not a regular file', { cause: err });
        if (err.name === 'AbortError')
            return err;
        return transient(display, `cannot read file: ${err.message}`, err);
    }
    // ---- http(s) ----
    async fetchUrl(uri, signal) {
        const source = redactUrl(uri);
        let current;
        try {
            current = new URL(uri);
        }
        catch {
            throw new ImageRefusedError(source, 'invalid URL');
        }
        for (let hop = 0;; hop++) {
            const here = redactUrl(current);
            const where = hop === 0 ? source : `${source}, redirected to ${here}`;
            const pinned = await this.resolvePublic(current, where, signal);
            const r = await this.get(current, pinned, where, signal);
            if (r.kind === 'body')
                return { bytes: r.bytes, source };
            let next;
            try {
                next = new URL(r.location, current);
            }
            catch {
                throw new ImageRefusedError(where, 'redirect to an invalid Location');
            }
            if (next.protocol !== 'http:' && next.protocol !== 'https:') {
                throw new ImageRefusedError(where, `redirect to unsupported scheme '${next.protocol}'`);
            }
            if (hop >= this.config.maxRedirects) {
                throw new ImageRefusedError(where, `more than images.maxRedirects (${this.config.maxRedirects}) redirects (next: ${redactUrl(next)})`);
            }
            current = next;
        }
    }
    /** Resolves the host and checks every address; the first one is used for the connection. */
    async resolvePublic(url, where, signal) {
        const host = url.hostname.replace(/^\[|\]$/g, '');
        let addrs;
        if (net.isIP(host))
            addrs = [{ address: host, family: net.isIP(host) }];
        else {
            try {
                addrs = await raceAbort(this.lookup(host), signal);
            }
            catch (err) {
                if (signal.aborted)
                    throw err;
                const code = err.code;
                if (code === 'ENOTFOUND' || code === 'ENODATA')
                    throw new ImageRefusedError(where, `host '${host}' not found`, { cause: err });
                throw transient(where, `DNS lookup of '${host}' failed: ${err.message}`, err);
            }
        }
        if (addrs.length === 0)
            throw new ImageRefusedError(where, `host '${host}' has no addresses`);
        if (!this.config.allowPrivateNetworks) {
            for (const a of addrs) {
                const why = nonPublicReason(a.address);
                if (why) {
                    throw new ImageRefusedError(where, `host '${host}' resolves to ${a.address} (${why}); set images.allowPrivateNetworks to allow non-public addresses`);
                }
            }
        }
        return addrs[0];
    }
    get(url, pinned, where, signal) {
        const { maxBytes } = this.config;
        return new Promise((resolve, reject) => {
            let settled = false;
            const settle = (fn) => {
                if (settled)
                    return;
                settled = true;
                fn();
            };
            const fail = (err) => settle(() => reject(err));
            const netFail = (err) => {
                if (signal.aborted)
                    return fail(err); // load() turns it into a timeout/abort error
                const code = err.code ?? '';
                if (RETRIABLE_NET.has(code) || err.message === 'aborted')
                    fail(transient(where, `connection failed: ${err.message}`, err));
                else
                    fail(new ImageRefusedError(where, `request failed: ${err.message}`, { cause: err }));
            };
            // The connection goes to the address that was checked, never to a second DNS
            // answer (DNS rebinding); the URL's hostname still sets Host, SNI and the
            // certificate check. Node 20 asks with { all: true } when autoSelectFamily is on.
            const lookup = (_h, opts, cb) => {
                if (typeof opts === 'object' && opts?.all)
                    cb(null, [pinned]);
                else
                    cb(null, pinned.address, pinned.family);
            };
            const mod = url.protocol === 'https:' ? https : http;
            let req;
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
                    lookup: lookup,
                    signal,
                });
            }
            catch (err) {
                return fail(new ImageRefusedError(where, `cannot build request: ${err.message}`, { cause: err }));
            }
            req.on('error', netFail);
            req.on('response', (res) => {
                const status = res.statusCode ?? 0;
                res.on('error', netFail);
                if (REDIRECTS.has(status)) {
                    const location = res.headers.location;
                    res.destroy();
                    if (!location)
                        return fail(new ImageRefusedError(where, `HTTP ${status} redirect without a Location`));
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
                const chunks = [];
                let total = 0;
                res.on('data', (c) => {
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
                    if (!res.complete)
                        netFail(Object.assign(new Error('connection closed before the body was complete'), { code: 'ECONNRESET' }));
                });
            });
            req.end();
        });
    }
    // ---- content checks ----
    /**
     * Header-level checks only: size, sha256, format and pixel count come from the bytes and
     * the image header (sharp.metadata() does not decode pixels), so a decompression bomb is
     * refused before anything allocates its pixels. Truncated or corrupt pixel data is found
     * by the one full decode, in preprocessImage (failOn: 'error'), rather than by decoding
     * twice here.
     */
    async inspect(bytes, source, ref) {
        const { maxBytes, maxPixels, allowedFormats } = this.config;
        if (bytes.length === 0)
            throw new ImageRefusedError(source, 'empty image (0 bytes)');
        if (bytes.length > maxBytes)
            throw new ImageRefusedError(source, `${bytes.length} bytes is over images.maxBytes ${maxBytes}`);
        const sha256 = (0, ids_1.sha256Hex)(bytes);
        if (ref.sha256 && ref.sha256.toLowerCase() !== sha256) {
            throw new ImageRefusedError(source, `content changed: sha256 is ${sha256} but the record says ${ref.sha256}`);
        }
        let meta;
        try {
            // limitInputPixels: false, or sharp refuses a bomb here with no dimensions to report.
            meta = await (0, sharp_1.default)(bytes, { limitInputPixels: false }).metadata();
        }
        catch (err) {
            const msg = err.message;
            if (/unsupported image format/i.test(msg))
                throw new ImageRefusedError(source, 'unsupported format: the bytes are not a recognised image', { cause: err });
            throw new ImageRefusedError(source, `corrupt image header: ${msg}`, { cause: err });
        }
        const format = meta.format;
        if (!allowedFormats.includes(format)) {
            throw new ImageRefusedError(source, `unsupported format '${format}' (images.allowedFormats: ${allowedFormats.join(', ')})`);
        }
        const { width, height } = meta;
        if (!(width > 0 && height > 0))
            throw new ImageRefusedError(source, 'corrupt image header: no dimensions');
        if (width * height > maxPixels) {
            throw new ImageRefusedError(source, `${width}x${height} = ${width * height} pixels is over images.maxPixels ${maxPixels} (decompression bomb guard)`);
        }
        const mediaType = format === 'heif' && meta.compression === 'av1' ? 'image/avif' : (MEDIA_TYPES[format] ?? 'application/octet-stream');
        return { bytes, sha256, width, height, format, mediaType, source };
    }
}
exports.ImageIntake = ImageIntake;
function raceAbort(p, signal) {
    if (signal.aborted)
        return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        p.then((v) => {
            signal.removeEventListener('abort', onAbort);
            resolve(v);
        }, (e) => {
            signal.removeEventListener('abort', onAbort);
            reject(e);
        });
    });
}
//# sourceMappingURL=image-intake.js.map