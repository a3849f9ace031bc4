// Image intake: turns an ImageRef (inline bytes, a file path or an http(s) URL) into
// checked bytes. Refs come from untrusted event streams, so every way in is fenced:
// file paths only under configured roots, URLs only to public addresses (SSRF), sizes,
// pixel counts and formats capped before anything is decoded. Which paths and addresses
// are allowed is address-policy.ts; the HTTP fetch is image-fetch.ts.
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp, { type Metadata } from 'sharp';
import { z } from 'zod';
import { ConfigError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import type { DetectionRequest } from '../../schemas/generated/types';
import { defaultLookup, FileRoots, LookupAll } from './address-policy';
import { fetchUrl } from './image-fetch';
import { fsError, ImageRefusedError, redactUrl, transient } from './image-errors';

// Where they were defined before the split; importers keep using this module.
export { nonPublicReason } from './address-policy';
export { ImageRefusedError, redactUrl } from './image-errors';

export type ImageRef = DetectionRequest['image'];

/**
 * Formats sharp's prebuilt libvips reads from a buffer (see `sharp.format`). BMP is not
 * among them (it needs ImageMagick), so it cannot be allowed. `heif` covers AVIF only in
 * the prebuilt binaries (no HEVC decoder); SVG is allowed only on request, as rendering a
 * vector document is a different risk from decoding pixels.
 */
export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'svg'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const imageIntakeConfig = z
  .object({
    /** Directories file paths may be read from; empty refuses every file path. */
    allowedRoots: z.array(z.string().min(1)).default([]),
    /** Allow URLs that resolve to loopback/private/link-local addresses (tests, on-prem stores). */
    allowPrivateNetworks: z.boolean().default(false),
    maxBytes: z
      .number()
      .int()
      .positive()
      .default(20 * 1024 * 1024),
    /** width x height read from the header, checked before any decoding. */
    maxPixels: z.number().int().positive().default(40_000_000),
    /** Deadline for a whole load: DNS, every redirect hop and the body. */
    timeoutMs: z.number().int().positive().default(10_000),
    maxRedirects: z.number().int().min(0).default(3),
    allowedFormats: z.array(z.enum(IMAGE_FORMATS)).min(1).default(['jpeg', 'png', 'webp', 'gif', 'tiff']),
  })
  .strict();
export type ImageIntakeConfig = z.infer<typeof imageIntakeConfig>;

export interface LoadedImage {
  bytes: Buffer;
  sha256: string;
  /** Stored dimensions from the header (EXIF orientation not applied, as in decoding). */
  width: number;
  height: number;
  format: string;
  mediaType: string;
  /** Where the bytes came from, safe to log: a real path, a redacted URL or "inline". */
  source: string;
}

export interface ImageIntakeDeps {
  /** DNS resolution (all addresses); injectable so tests need no real DNS. */
  lookup?: LookupAll;
}

const MEDIA_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  heif: 'image/heif',
  svg: 'image/svg+xml',
};

// The abort reason of a load that ran out of images.timeoutMs.
class Deadline {}

export class ImageIntake {
  readonly config: ImageIntakeConfig;
  private readonly roots: FileRoots;
  private readonly lookup: LookupAll;

  constructor(cfg: z.input<typeof imageIntakeConfig> = {}, deps: ImageIntakeDeps = {}) {
    const parsed = imageIntakeConfig.safeParse(cfg);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `images.${i.path.join('.')}: ${i.message}`).join('; ');
      throw new ConfigError(`invalid image intake config: ${issues}`);
    }
    this.config = parsed.data;
    for (const f of this.config.allowedFormats) {
      if (!sharp.format[f]?.input.buffer) throw new ConfigError(`images.allowedFormats: this sharp build cannot read '${f}'`);
    }
    this.roots = new FileRoots(this.config.allowedRoots);
    this.lookup = deps.lookup ?? defaultLookup;
  }

  async load(ref: ImageRef, signal?: AbortSignal): Promise<LoadedImage> {
    if (ref.bytes && ref.bytes.length > 0) {
      return this.inspect(Buffer.isBuffer(ref.bytes) ? ref.bytes : Buffer.from(ref.bytes), 'inline', ref);
    }
    const uri = ref.uri?.trim();
    if (!uri) throw new ImageRefusedError('image ref', 'it has neither bytes nor a uri');

    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Deadline()), this.config.timeoutMs);
    const onAbort = () => ac.abort(signal!.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
      let got: { bytes: Buffer; source: string };
      if (scheme === undefined) got = await this.readFile(uri, uri, ac.signal);
      else if (scheme === 'file') {
        let p: string;
        try {
          p = fileURLToPath(uri);
        } catch (err) {
          throw new ImageRefusedError(redactUrl(uri), `not a local file URL: ${(err as Error).message}`);
        }
        got = await this.readFile(p, p, ac.signal);
      } else if (scheme === 'http' || scheme === 'https') got = await fetchUrl(uri, ac.signal, { ...this.config, lookup: this.lookup });
      else throw new ImageRefusedError(redactUrl(uri), `unsupported URI scheme '${scheme}:' (only file paths, file:, http: and https:)`);
      return await this.inspect(got.bytes, got.source, ref);
    } catch (err) {
      throw this.abortError(err, ac.signal, uri);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  // Whatever an aborted operation threw, say why it was aborted.
  private abortError(err: unknown, s: AbortSignal, uri: string): unknown {
    if (!s.aborted || err instanceof ImageRefusedError) return err;
    const src = /^[a-z][a-z0-9+.-]*:/i.test(uri) ? redactUrl(uri) : uri;
    if (s.reason instanceof Deadline) return transient(src, `timed out after ${this.config.timeoutMs} ms (images.timeoutMs)`, err);
    return transient(src, 'aborted', s.reason ?? err);
  }

  // ---- files ----

  private async readFile(p: string, display: string, signal: AbortSignal): Promise<{ bytes: Buffer; source: string }> {
    const real = await this.roots.resolve(p, display);
    let fh: fsp.FileHandle | undefined;
    try {
      // O_NOFOLLOW: the last component cannot be swapped for a link after the check;
      // O_NONBLOCK: opening a FIFO does not hang (it is refused below as not a file).
      fh = await fsp.open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      const st = await fh.stat();
      if (!st.isFile()) throw new ImageRefusedError(display, 'not a regular file');
      if (st.size > this.config.maxBytes) throw new ImageRefusedError(display, `file is ${st.size} bytes, over images.maxBytes ${this.config.maxBytes}`);
      const bytes = await fh.readFile({ signal });
      return { bytes, source: real };
    } catch (err) {
      throw fsError(err, display);
    } finally {
      await fh?.close();
    }
  }

  // ---- content checks ----

  /**
   * Header-level checks only: size, sha256, format and pixel count come from the bytes and
   * the image header (sharp.metadata() does not decode pixels), so a decompression bomb is
   * refused before anything allocates its pixels. Truncated or corrupt pixel data is found
   * by the one full decode, in preprocessImage (failOn: 'error'), rather than by decoding
   * twice here.
   */
  private async inspect(bytes: Buffer, source: string, ref: ImageRef): Promise<LoadedImage> {
    const { maxBytes, maxPixels, allowedFormats } = this.config;
    if (bytes.length === 0) throw new ImageRefusedError(source, 'empty image (0 bytes)');
    if (bytes.length > maxBytes) throw new ImageRefusedError(source, `${bytes.length} bytes is over images.maxBytes ${maxBytes}`);
    const sha256 = sha256Hex(bytes);
    if (ref.sha256 && ref.sha256.toLowerCase() !== sha256) {
      throw new ImageRefusedError(source, `content changed: sha256 is ${sha256} but the record says ${ref.sha256}`);
    }
    let meta: Metadata;
    try {
      // limitInputPixels: false, or sharp refuses a bomb here with no dimensions to report.
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch (err) {
      const msg = (err as Error).message;
      if (/unsupported image format/i.test(msg))
        throw new ImageRefusedError(source, 'unsupported format: the bytes are not a recognised image', { cause: err });
      throw new ImageRefusedError(source, `corrupt image header: ${msg}`, { cause: err });
    }
    const format = meta.format as string;
    if (!(allowedFormats as readonly string[]).includes(format)) {
      throw new ImageRefusedError(source, `unsupported format '${format}' (images.allowedFormats: ${allowedFormats.join(', ')})`);
    }
    const { width, height } = meta;
    if (!(width > 0 && height > 0)) throw new ImageRefusedError(source, 'corrupt image header: no dimensions');
    if (width * height > maxPixels) {
      throw new ImageRefusedError(source, `${width}x${height} = ${width * height} pixels is over images.maxPixels ${maxPixels} (decompression bomb guard)`);
    }
    const mediaType = format === 'heif' && meta.compression === 'av1' ? 'image/avif' : (MEDIA_TYPES[format] ?? 'application/octet-stream');
    return { bytes, sha256, width, height, format, mediaType, source };
  }
}
