import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { ConfigError, ProcessingError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import { ImageIntake, ImageRef, ImageRefusedError } from './image-intake';
import { GDINO_RESIZE, preprocessImage } from './preprocess';

const ref = (r: Partial<ImageRef>): ImageRef => ({ uri: null, bytes: null, sha256: null, width: null, height: null, mediaType: null, ...r });

let png: Buffer;
let tmp: string;
let root: string;
let outside: string;

beforeAll(async () => {
  png = await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .png()
    .toBuffer();
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'intake-')));
  root = path.join(tmp, 'root');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(root, 'a.png'), png);
  fs.writeFileSync(path.join(outside, 'secret.png'), png);
  fs.symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'escape.png'));
  fs.symlinkSync(outside, path.join(root, 'escape-dir'));
  fs.symlinkSync(path.join(root, 'a.png'), path.join(root, 'inner-link.png'));
  fs.mkdirSync(path.join(root, 'sub'));
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function refusal(p: Promise<unknown>): Promise<ImageRefusedError> {
  const err = await p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e) => e,
  );
  expect(err).toBeInstanceOf(ImageRefusedError);
  expect(err.retriable).toBe(false);
  return err;
}

async function transient(p: Promise<unknown>): Promise<ProcessingError> {
  const err = await p.then(
    () => {
      throw new Error('expected a retriable failure');
    },
    (e) => e,
  );
  expect(err).toBeInstanceOf(ProcessingError);
  expect(err.retriable).toBe(true);
  return err;
}

// A PNG whose header claims 100000x100000 (1-bit grey), with a tiny valid IDAT: the
// classic decompression bomb shape, a few hundred bytes on the wire.
function bombPng(w = 100_000, h = 100_000): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(64))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('config', () => {
  it('has safe defaults', () => {
    const c = new ImageIntake().config;
    expect(c).toMatchObject({ allowedRoots: [], allowPrivateNetworks: false, maxBytes: 20 * 1024 * 1024, maxPixels: 40_000_000, maxRedirects: 3 });
    expect(c.allowedFormats).toEqual(['jpeg', 'png', 'webp', 'gif', 'tiff']);
  });

  it('rejects unknown fields, formats sharp cannot read and missing roots as ConfigError', () => {
    expect(() => new ImageIntake({ allowedFormats: ['bmp' as 'png'] })).toThrow(ConfigError);
    expect(() => new ImageIntake({ maxbytes: 1 } as never)).toThrow(ConfigError);
    expect(() => new ImageIntake({ allowedRoots: [path.join(tmp, 'nope')] })).toThrow(/images.allowedRoots/);
  });
});

describe('inline bytes', () => {
  it('loads and describes them', async () => {
    const img = await new ImageIntake().load(ref({ bytes: png }));
    expect(img).toMatchObject({ sha256: sha256Hex(png), width: 32, height: 24, format: 'png', mediaType: 'image/png', source: 'inline' });
    expect(img.bytes.equals(png)).toBe(true);
  });

  it('take priority over the uri', async () => {
    const img = await new ImageIntake().load(ref({ bytes: png, uri: 'ftp://nowhere/x.png' }));
    expect(img.source).toBe('inline');
  });

  it('refuses a ref with neither bytes nor uri', async () => {
    expect((await refusal(new ImageIntake().load(ref({})))).message).toMatch(/neither bytes nor a uri/);
  });

  it('checks the sha256 when the record carries one', async () => {
    const intake = new ImageIntake();
    await expect(intake.load(ref({ bytes: png, sha256: sha256Hex(png).toUpperCase() }))).resolves.toBeDefined();
    const err = await refusal(intake.load(ref({ bytes: png, sha256: 'ab'.repeat(32) })));
    expect(err.message).toMatch(/inline.*content changed/);
  });

  it('refuses too many bytes', async () => {
    const err = await refusal(new ImageIntake({ maxBytes: 100 }).load(ref({ bytes: png })));
    expect(err.message).toMatch(/over images.maxBytes 100/);
  });
});

describe('formats and bombs', () => {
  it('refuses bytes that are not an image', async () => {
    const err = await refusal(new ImageIntake().load(ref({ bytes: Buffer.from('just some text\n') })));
    expect(err.message).toMatch(/unsupported format/);
  });

  it('refuses SVG unless allowed', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    expect((await refusal(new ImageIntake().load(ref({ bytes: svg })))).message).toMatch(/unsupported format 'svg'/);
    const ok = await new ImageIntake({ allowedFormats: ['png', 'svg'] }).load(ref({ bytes: svg }));
    expect(ok).toMatchObject({ format: 'svg', mediaType: 'image/svg+xml', width: 10, height: 10 });
  });

  it('refuses a decompression bomb from its header, before decoding', async () => {
    const bomb = bombPng();
    expect(bomb.length).toBeLessThan(500);
    const err = await refusal(new ImageIntake().load(ref({ bytes: bomb })));
    expect(err.message).toMatch(/100000x100000 = 10000000000 pixels is over images.maxPixels 40000000/);
  });

  it('applies maxPixels to ordinary images', async () => {
    const err = await refusal(new ImageIntake({ maxPixels: 32 * 24 - 1 }).load(ref({ bytes: png })));
    expect(err.message).toMatch(/32x24/);
  });

  it('a truncated PNG passes the header check and is refused as truncated by preprocess', async () => {
    const noisy = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .png()
      .toBuffer();
    const cut = noisy.subarray(0, Math.floor(noisy.length / 2));
    const img = await new ImageIntake().load(ref({ bytes: cut }));
    expect([img.width, img.height]).toEqual([64, 64]);
    const err = await refusal(preprocessImage(img.bytes, GDINO_RESIZE, 40_000_000, img.source));
    expect(err.message).toMatch(/truncated/);
  });
});

describe('file paths', () => {
  const intake = () => new ImageIntake({ allowedRoots: [root] });

  it('refuses every path when no roots are configured, saying how to fix it', async () => {
    const err = await refusal(new ImageIntake().load(ref({ uri: path.join(root, 'a.png') })));
    expect(err.message).toContain('images.allowedRoots');
  });

  it('loads a file under a root by path, file: URL and relative path', async () => {
    const file = path.join(root, 'a.png');
    for (const uri of [file, pathToFileURL(file).href, path.relative(process.cwd(), file)]) {
      const img = await intake().load(ref({ uri }));
      expect(img).toMatchObject({ source: file, width: 32, height: 24, sha256: sha256Hex(png) });
    }
  });

  it('follows a symlink that stays inside the root', async () => {
    const img = await intake().load(ref({ uri: path.join(root, 'inner-link.png') }));
    expect(img.source).toBe(path.join(root, 'a.png'));
  });

  it('refuses a path outside the roots, also via ..', async () => {
    for (const uri of [path.join(outside, 'secret.png'), path.join(root, '..', 'outside', 'secret.png')]) {
      const err = await refusal(intake().load(ref({ uri })));
      expect(err.message).toMatch(/outside images.allowedRoots/);
      expect(err.message).toContain(uri);
    }
  });

  it('refuses symlinks (file or directory) that escape the root', async () => {
    for (const uri of [path.join(root, 'escape.png'), path.join(root, 'escape-dir', 'secret.png')]) {
      const err = await refusal(intake().load(ref({ uri })));
      expect(err.message).toMatch(/resolves to .*outside images.allowedRoots/);
    }
  });

  it('refuses missing files, directories and files over maxBytes', async () => {
    expect((await refusal(intake().load(ref({ uri: path.join(root, 'missing.png') })))).message).toMatch(/missing\.png.*not found/);
    expect((await refusal(intake().load(ref({ uri: path.join(root, 'sub') })))).message).toMatch(/not a regular file/);
    const small = new ImageIntake({ allowedRoots: [root], maxBytes: 10 });
    expect((await refusal(small.load(ref({ uri: path.join(root, 'a.png') })))).message).toMatch(/over images.maxBytes 10/);
  });

  it('refuses other schemes, naming the URL without secrets', async () => {
    const err = await refusal(intake().load(ref({ uri: 'ftp://user:hunter2@example.com/a.png?sig=s3cret' })));
    expect(err.message).toMatch(/unsupported URI scheme 'ftp:'/);
    expect(err.message).toContain('ftp://example.com/a.png');
    expect(err.message).not.toMatch(/hunter2|s3cret/);
  });
});

describe('http(s)', () => {
  let server: http.Server;
  let base: string;
  let port: number;
  const hits: Array<{ url: string; host: string | undefined }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push({ url: req.url!, host: req.headers.host });
      const u = new URL(req.url!, 'http://x');
      const m = /^\/r\/(\d+)$/.exec(u.pathname);
      if (m) {
        const n = Number(m[1]);
        res.writeHead(302, { location: n > 1 ? `/r/${n - 1}` : '/img.png' }).end();
      } else if (u.pathname === '/img.png') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
      } else if (u.pathname === '/to-file') {
        res.writeHead(301, { location: 'file:///etc/passwd' }).end();
      } else if (u.pathname === '/big-declared') {
        res.writeHead(200, { 'content-length': 5000 }).end(Buffer.alloc(5000));
      } else if (u.pathname === '/big-chunked') {
        res.writeHead(200, { 'content-type': 'image/png' }); // no length: chunked
        let sent = 0;
        const tick = () => {
          if (res.destroyed || sent > 1_000_000) return res.end();
          sent += 1000;
          res.write(Buffer.alloc(1000), () => setImmediate(tick));
        };
        tick();
      } else if (u.pathname === '/hang') {
        // never answers
      } else if (u.pathname === '/stall-body') {
        res.writeHead(200, { 'content-length': png.length });
        res.write(png.subarray(0, 10)); // then nothing
      } else if (u.pathname === '/503') {
        res.writeHead(503).end('busy');
      } else if (u.pathname === '/429') {
        res.writeHead(429).end('slow down');
      } else {
        res.writeHead(404).end('no');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const open = (cfg: Record<string, unknown> = {}, deps = {}) => new ImageIntake({ allowPrivateNetworks: true, timeoutMs: 2000, ...cfg }, deps);

  it('refuses a loopback server by default, before connecting', async () => {
    const before = hits.length;
    for (const uri of [`${base}/img.png`, `http://localhost:${port}/img.png`, `http://[::1]:${port}/img.png`]) {
      const err = await refusal(new ImageIntake().load(ref({ uri })));
      expect(err.message).toMatch(/loopback.*images.allowPrivateNetworks/);
    }
    expect(hits.length).toBe(before);
  });

  it('refuses a host if any of its addresses is non-public', async () => {
    const lookup = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ];
    const err = await refusal(new ImageIntake({}, { lookup }).load(ref({ uri: 'http://mixed.test/img.png' })));
    expect(err.message).toMatch(/mixed\.test.*10\.0\.0\.7 \(private\)/);
  });

  it('loads from a private server when allowPrivateNetworks is set', async () => {
    const img = await open().load(ref({ uri: `${base}/img.png?sig=abc` }));
    expect(img).toMatchObject({ sha256: sha256Hex(png), format: 'png', source: `${base}/img.png?…` });
  });

  it('connects to the resolved address but sends the name as Host', async () => {
    const lookup = jest.fn(async () => [{ address: '127.0.0.1', family: 4 }]);
    const img = await open({}, { lookup }).load(ref({ uri: `http://images.test:${port}/img.png` }));
    expect(img.width).toBe(32);
    expect(lookup).toHaveBeenCalledTimes(1); // resolved once, by us; the socket reuses that answer
    expect(hits.at(-1)).toEqual({ url: '/img.png', host: `images.test:${port}` });
  });

  it('follows up to maxRedirects redirects', async () => {
    await expect(open().load(ref({ uri: `${base}/r/3` }))).resolves.toMatchObject({ width: 32 });
    const err = await refusal(open().load(ref({ uri: `${base}/r/4` })));
    expect(err.message).toMatch(/more than images.maxRedirects \(3\) redirects/);
    await refusal(open({ maxRedirects: 0 }).load(ref({ uri: `${base}/r/1` })));
  });

  it('re-checks every redirect hop', async () => {
    const err = await refusal(open().load(ref({ uri: `${base}/to-file` })));
    expect(err.message).toMatch(/redirect to unsupported scheme 'file:'/);
  });

  it('refuses bodies over maxBytes, by Content-Length and while streaming', async () => {
    const declared = await refusal(open({ maxBytes: 1000 }).load(ref({ uri: `${base}/big-declared` })));
    expect(declared.message).toMatch(/Content-Length 5000 is over images.maxBytes 1000/);
    const chunked = await refusal(open({ maxBytes: 10_000 }).load(ref({ uri: `${base}/big-chunked` })));
    expect(chunked.message).toMatch(/body is over images.maxBytes 10000/);
  });

  it('times out a server that never answers, as retriable', async () => {
    const t0 = Date.now();
    const err = await transient(open({ timeoutMs: 200 }).load(ref({ uri: `${base}/hang` })));
    expect(err.message).toMatch(/\/hang.*timed out after 200 ms/);
    expect(Date.now() - t0).toBeLessThan(15_000); // the server never answers: the timeout ended it
    const stalled = await transient(open({ timeoutMs: 200 }).load(ref({ uri: `${base}/stall-body` })));
    expect(stalled.message).toMatch(/timed out/);
  });

  it('treats 5xx, 429 and refused connections as retriable, 404 as refused', async () => {
    expect((await transient(open().load(ref({ uri: `${base}/503` })))).message).toMatch(/HTTP 503/);
    expect((await transient(open().load(ref({ uri: `${base}/429` })))).message).toMatch(/HTTP 429/);
    expect((await refusal(open().load(ref({ uri: `${base}/nothing` })))).message).toMatch(/HTTP 404/);
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect((await transient(open().load(ref({ uri: `http://127.0.0.1:${deadPort}/img.png` })))).message).toMatch(/ECONNREFUSED/);
  });

  it('stops when the caller aborts', async () => {
    const ac = new AbortController();
    const p = open({ timeoutMs: 5000 }).load(ref({ uri: `${base}/hang` }), ac.signal);
    setTimeout(() => ac.abort(), 50);
    expect((await transient(p)).message).toMatch(/aborted/);
  });

  it('keeps credentials and query strings out of error messages', async () => {
    const err = await refusal(new ImageIntake().load(ref({ uri: `http://alice:hunter2@127.0.0.1:${port}/img.png?token=s3cret` })));
    expect(err.message).toContain(`http://127.0.0.1:${port}/img.png?…`);
    expect(err.message).not.toMatch(/alice|hunter2|s3cret/);
  });
});
