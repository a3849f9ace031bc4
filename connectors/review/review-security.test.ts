// What the review server refuses: files outside <dataset>/images however the path is spelled,
// writes a browser could be tricked into (no CSRF header, a foreign Origin, cross-site,
// form content types, a rebound Host), and, with a token, anyone without it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HUMAN_VERDICTS_FILE } from './human-verdicts';
import { makeReviewDataset, mergedRecords, rawGet, rawRequest } from './review.testkit';
import { checkBind, isLoopbackHost } from './review-security';
import { startReviewServer, type ReviewServer } from './review-server';

describe('review server security', () => {
  let work: string;
  let dataset: string;
  let server: ReviewServer;
  let csrf: string;
  const logFile = () => path.join(dataset, HUMAN_VERDICTS_FILE);
  const logged = () => (fs.existsSync(logFile()) ? fs.readFileSync(logFile(), 'utf8').split('\n').filter(Boolean).length : 0);

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'review-sec-'));
    ({ datasetDir: dataset } = await makeReviewDataset(work, { images: 4 }));
    fs.writeFileSync(path.join(work, 'secret.png'), 'not for the page');
    server = await startReviewServer({ datasetDir: dataset });
    const html = await (await fetch(server.url)).text();
    csrf = /<meta name="valor-csrf" content="([^"]+)"/.exec(html)![1]!;
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('serves images under images/ with their type, and refuses every way out of it', async () => {
    const rec = mergedRecords(dataset)[0]!;
    const ok = await fetch(server.url + rec.filename);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await ok.arrayBuffer()).equals(fs.readFileSync(path.join(dataset, rec.filename)))).toBe(true);

    const dir = path.join(dataset, 'images', 'zz');
    fs.mkdirSync(dir, { recursive: true });
    fs.symlinkSync(path.join(work, 'secret.png'), path.join(dir, 'escape.png'));
    fs.symlinkSync(work, path.join(dataset, 'images', 'up'));
    const refused: Array<[string, number]> = [
      ['/images/../dataset.json', 403],
      ['/images/%2e%2e/dataset.json', 403],
      ['/images/%2E%2E%2Fdataset.json', 403],
      ['/images/..%2fdataset.json', 403],
      ['/images//etc/passwd', 403],
      ['/images/%2Fetc%2Fpasswd', 403],
      ['/images/zz/escape.png', 403],
      ['/images/up/secret.png', 403],
      ['/images/zz/missing.png', 404],
      ['/images/../label_map.json', 403],
      ['/dataset.json', 404],
      ['/label_map.json', 404],
      ['/static/../dataset.json', 404],
    ];
    for (const [p, code] of refused) {
      const r = await rawGet(server.url, p);
      expect([p, r.status]).toEqual([p, code]);
      expect(r.body).not.toContain('not for the page');
      expect(r.body).not.toContain('"train"');
    }
  });

  it('sends nosniff and a self-only CSP on every answer, and no CORS headers', async () => {
    for (const p of ['/', '/static/review.js', '/api/summary', '/nope']) {
      const r = await fetch(server.url + p.slice(1), { headers: { Origin: 'http://evil.example' } });
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'.*script-src 'self'/);
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
      await r.arrayBuffer(); // an unread body leaves the client's socket open
    }
    const js = await fetch(server.url + 'static/review.js');
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await js.text()).toContain('/api/verdicts');
    expect((await fetch(server.url + 'api/summary', { headers: { 'Sec-Fetch-Site': 'cross-site' } })).status).toBe(403);
  });

  it('refuses cross-site writes and logs nothing for them', async () => {
    const recs = mergedRecords(dataset);
    const i = recs.findIndex((r) => r.detection!.instances.length);
    const rec = recs[i]!;
    const inst = rec.detection!.instances[0]!;
    const body = JSON.stringify({ index: i, action: 'REJECT', box: { bbox: inst.bbox, category: inst.category } });
    const json = { 'Content-Type': 'application/json' };
    const attempts: Array<[string, Record<string, string>]> = [
      ['no CSRF header', json],
      ['a wrong CSRF header', { ...json, 'X-Valor-Csrf': 'guess' }],
      ['a foreign Origin', { ...json, 'X-Valor-Csrf': csrf, Origin: 'http://evil.example' }],
      ['another port of localhost', { ...json, 'X-Valor-Csrf': csrf, Origin: `http://127.0.0.1:${server.port + 1}` }],
      ['Sec-Fetch-Site: cross-site', { ...json, 'X-Valor-Csrf': csrf, 'Sec-Fetch-Site': 'cross-site' }],
      ['a form content type', { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Valor-Csrf': csrf }],
      ['text/plain', { 'Content-Type': 'text/plain', 'X-Valor-Csrf': csrf }],
      ['a rebound Host', { ...json, 'X-Valor-Csrf': csrf, Host: `evil.example:${server.port}` }],
    ];
    for (const [what, headers] of attempts) {
      const r = await rawRequest(server.url, '/api/verdicts', { method: 'POST', headers: { Host: `127.0.0.1:${server.port}`, ...headers }, body });
      expect([what, r.status]).toEqual([what, 403]);
    }
    expect(logged()).toBe(0);
    const good = await fetch(server.url + 'api/verdicts', {
      method: 'POST',
      headers: { ...json, 'X-Valor-Csrf': csrf, Origin: server.url.replace(/\/$/, ''), 'Sec-Fetch-Site': 'same-origin' },
      body,
    });
    expect([good.status, await good.text()]).toEqual([201, expect.stringContaining('"verdict"')]);
    expect(logged()).toBe(1);
  });

  it('refuses a rebound Host header on reads too (DNS rebinding)', async () => {
    expect((await rawGet(server.url, '/api/summary', { Host: `evil.example:${server.port}` })).status).toBe(403);
    expect((await rawGet(server.url, '/api/summary', { Host: `localhost:${server.port}` })).status).toBe(200);
  });

  it('will not start on a non-loopback address without a token', async () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('192.168.1.4')).toBe(false);
    await expect(startReviewServer({ datasetDir: dataset, host: '0.0.0.0' })).rejects.toThrow(/--token/);
    await expect(startReviewServer({ datasetDir: dataset, host: '192.0.2.1' })).rejects.toThrow(/--token/);
    expect(() => checkBind('0.0.0.0', 's3cret-token')).not.toThrow();
    expect(() => checkBind('127.0.0.1', '')).toThrow(/empty/);
  });

  it('with a token, needs it on every request: query (which sets the cookie), cookie or bearer', async () => {
    const token = 'tok-' + 'x'.repeat(20);
    const s = await startReviewServer({ datasetDir: dataset, token });
    try {
      for (const p of ['', 'api/summary', 'static/review.js', mergedRecords(dataset)[0]!.filename])
        expect([p, (await fetch(s.url + p)).status]).toEqual([p, 401]);
      expect((await fetch(s.url + 'api/summary?token=wrong')).status).toBe(401);
      expect((await fetch(s.url + 'api/summary', { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(s.url + 'api/summary', { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
      const first = await fetch(s.url + `?token=${token}`);
      expect(first.status).toBe(200);
      const cookie = first.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      const pair = cookie.split(';')[0]!;
      expect((await fetch(s.url + 'api/summary', { headers: { Cookie: pair } })).status).toBe(200);
      expect((await fetch(s.url + 'api/summary', { headers: { Cookie: pair.replace(/=.*/, '=nope') } })).status).toBe(401);
    } finally {
      await s.close();
    }
  });
});
