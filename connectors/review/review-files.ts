// The files the review server sends: its page (connectors/review/page/, found from the
// sources and from dist/, as schemas/catalog.ts finds the .avsc files: tsc does not copy
// non-TS files) and the dataset's images, only from under <dataset>/images.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { IMAGE_DIR } from '../sinks/image-store';
import type { Refusal } from './review-security';

/** The page's directory; works from source (ts) and from the compiled dist/ tree. */
export function pageDir(): string {
  for (const candidate of [path.join(__dirname, 'page'), path.join(__dirname, '..', '..', '..', 'connectors', 'review', 'page')]) {
    if (fs.existsSync(path.join(candidate, 'index.html'))) return candidate;
  }
  throw new Error(`cannot find the review page (connectors/review/page/index.html) near ${__dirname}`);
}

export interface Page {
  /** index.html with the CSRF token in its meta tag. */
  html: string;
  /** The static files by name: only these are served. */
  assets: Map<string, { type: string; body: Buffer }>;
}

const ASSETS: Record<string, string> = {
  'review.js': 'text/javascript; charset=utf-8',
  'review-render.js': 'text/javascript; charset=utf-8',
  'review-tools.js': 'text/javascript; charset=utf-8',
  'review.css': 'text/css; charset=utf-8',
};

export async function loadPage(csrf: string): Promise<Page> {
  const dir = pageDir();
  const template = await fs.promises.readFile(path.join(dir, 'index.html'), 'utf8');
  if (!template.includes('{{CSRF}}')) throw new Error(`${path.join(dir, 'index.html')} has no {{CSRF}} placeholder`);
  const assets = new Map<string, { type: string; body: Buffer }>();
  for (const [name, type] of Object.entries(ASSETS)) assets.set(name, { type, body: await fs.promises.readFile(path.join(dir, name)) });
  // The token is base64url: nothing in it needs escaping in an attribute.
  return { html: template.replace('{{CSRF}}', csrf), assets };
}

const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  heif: 'image/heif',
  svg: 'image/svg+xml',
};

export class ImageFiles {
  private constructor(private readonly root: string) {}

  /** `<datasetDir>/images`, resolved once (the dataset directory may itself be a link). */
  static async open(datasetDir: string): Promise<ImageFiles> {
    const dir = path.join(datasetDir, IMAGE_DIR);
    try {
      return new ImageFiles(await fs.promises.realpath(dir));
    } catch {
      return new ImageFiles(path.resolve(dir)); // no images yet: every request is a 404
    }
  }

  /**
   * The file of a raw request path (the part after `/images/`, still percent-encoded), or a
   * refusal. Each segment is decoded on its own and must be a plain name, so neither `..`,
   * `%2e%2e`, an encoded `/` nor an absolute path gets through; the real path (links
   * resolved) must still be under the images directory.
   */
  async resolve(raw: string): Promise<{ file: string; type: string } | Refusal> {
    const segments: string[] = [];
    for (const s of raw.split('/')) {
      let d: string;
      try {
        d = decodeURIComponent(s);
      } catch {
        return { status: 400, message: 'bad percent-encoding in the image path' };
      }
      if (!d || d === '.' || d === '..' || /[/\\\0]/.test(d)) return { status: 403, message: 'only files under the dataset images/ directory are served' };
      segments.push(d);
    }
    const type =
      IMAGE_TYPES[
        path
          .extname(segments[segments.length - 1] ?? '')
          .slice(1)
          .toLowerCase()
      ];
    if (!type) return { status: 404, message: 'not an image' };
    let real: string;
    try {
      real = await fs.promises.realpath(path.join(this.root, ...segments));
    } catch {
      return { status: 404, message: 'no such image' };
    }
    if (!real.startsWith(this.root + path.sep)) return { status: 403, message: 'only files under the dataset images/ directory are served' };
    const stat = await fs.promises.stat(real);
    if (!stat.isFile()) return { status: 404, message: 'no such image' };
    return { file: real, type };
  }

  /** Sends an image. Its own CSP: an SVG opened directly must not run script in this origin. */
  static send(res: http.ServerResponse, f: { file: string; type: string }): Promise<void> {
    return new Promise((resolve) => {
      const stream = fs.createReadStream(f.file);
      stream.once('open', () => {
        res.writeHead(200, {
          'Content-Type': f.type,
          'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
          'Cache-Control': 'private, max-age=3600',
        });
        stream.pipe(res);
      });
      stream.once('error', () => {
        if (!res.headersSent) res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('no such image');
        else res.destroy();
        resolve();
      });
      res.once('close', () => {
        stream.destroy();
        resolve();
      });
    });
  }
}
