// `valor-stream review`'s HTTP server: the review page, its JSON API over the merged training
// set, and the dataset's images. Records are paged on the server from a compact index of the
// merged file (review-store.ts), so a set of 100,000 records opens in about a second; each
// action a person takes is appended to the dataset's verdict log (and handed to `onVerdict`,
// e.g. a Kafka mirror) before the page sees its effect. Security: review-security.ts.
import { randomInt } from 'node:crypto';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger, type Logger } from '../../core/logger';
import type { HumanVerdict } from '../../schemas/generated/types';
import { agreementOf } from './agreement';
import { FileHumanVerdictLog, type HumanVerdictLog } from './human-verdicts';
import { ImageFiles, loadPage, type Page } from './review-files';
import { HttpError, parseRecordQuery, parseVerdictInput } from './review-input';
import { postVerdict } from './review-post';
import { checkBind, isLoopbackHost, newCsrfToken, ReviewSecurity, type Refusal } from './review-security';
import { ReviewStore } from './review-store';

export interface ReviewServerOptions {
  datasetDir: string;
  /** Default 127.0.0.1; any other address needs `token`. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  token?: string;
  /** Default: the OS user name. */
  reviewer?: string;
  /** Default: `<datasetDir>/human-verdicts.jsonl`. */
  log?: HumanVerdictLog;
  /** Called after each verdict is logged (e.g. to mirror it to Kafka); a failure is reported to the page, not undone. */
  onVerdict?: (v: HumanVerdict) => Promise<void>;
  logger?: Logger;
}

export interface ReviewServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Largest verdict body accepted: a verdict is a few hundred bytes. */
const MAX_BODY = 64 * 1024;

function osUser(): string {
  try {
    return os.userInfo().username || 'reviewer';
  } catch {
    return 'reviewer'; // no passwd entry (some containers)
  }
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
};
const refuse = (res: http.ServerResponse, r: Refusal) => json(res, r.status, { error: r.message });

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `body: larger than ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startReviewServer(opts: ReviewServerOptions): Promise<ReviewServer> {
  const host = opts.host ?? '127.0.0.1';
  checkBind(host, opts.token);
  const logger = opts.logger ?? silentLogger;
  const datasetDir = path.resolve(opts.datasetDir);
  const reviewer = opts.reviewer || osUser();
  const store = await ReviewStore.open(datasetDir, opts.log ?? new FileHumanVerdictLog(datasetDir), randomInt(0, 2 ** 31));
  const csrf = newCsrfToken();
  let page: Page;
  let images: ImageFiles;
  try {
    images = await ImageFiles.open(datasetDir);
    page = await loadPage(csrf);
  } catch (err) {
    await store.close();
    throw err;
  }
  // Known once the port is: requests cannot arrive before listen() has called back.
  let security: ReviewSecurity | null = null;
  // Verdicts are taken one at a time: the log's order is the order their effects were shown.
  let writing: Promise<unknown> = Promise.resolve();
  // Never before a logged verdict: a later action must apply later, whatever the clock did.
  let lastAt = store.verdicts.reduce((m, v) => Math.max(m, v.at), 0);

  const routes = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
    const p = url.pathname;
    const method = req.method ?? 'GET';
    if (p.startsWith('/api/')) {
      const r = security!.checkApiRead(req);
      if (r) return refuse(res, r);
    }
    if (method === 'POST' && p === '/api/verdicts') {
      const r = security!.checkWrite(req);
      if (r) return refuse(res, r);
      const text = await readBody(req);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new HttpError(400, 'body: not JSON');
      }
      const input = parseVerdictInput(body);
      const run = writing.then(() => {
        // Strictly increasing times: verdicts apply by time, so two quick actions keep their order.
        lastAt = Math.max(Date.now(), lastAt + 1);
        return postVerdict(store, input, { reviewer, at: lastAt, onVerdict: opts.onVerdict, logger });
      });
      writing = run.catch(() => undefined);
      return json(res, 201, await run);
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} ${p}: not allowed`);
    if (p === '/' || p === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      return void res.end(page.html);
    }
    if (p === '/favicon.ico') return void res.writeHead(204).end();
    if (p.startsWith('/static/')) {
      const a = page.assets.get(p.slice('/static/'.length));
      if (!a) throw new HttpError(404, `${p}: no such file`);
      res.writeHead(200, { 'Content-Type': a.type });
      return void res.end(a.body);
    }
    if (p === '/api/summary') return json(res, 200, store.summary(reviewer));
    if (p === '/api/agreement') return json(res, 200, agreementOf(store.verdicts));
    if (p === '/api/records') return json(res, 200, await store.records(parseRecordQuery(url.searchParams)));
    const one = /^\/api\/records\/(\d+)$/.exec(p);
    if (one) return json(res, 200, await store.record(Number(one[1])));
    const raw = (req.url ?? '').split('?')[0]!;
    if (raw.startsWith('/images/')) {
      const f = await images.resolve(raw.slice('/images/'.length));
      if ('status' in f) return refuse(res, f);
      return ImageFiles.send(res, f);
    }
    throw new HttpError(404, `${p}: not found`);
  };

  const server = http.createServer((req, res) => {
    if (!security) return refuse(res, { status: 503, message: 'starting' });
    security.headers(res);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://review.invalid');
    } catch {
      return refuse(res, { status: 400, message: 'bad request URL' });
    }
    const admitted = security.admit(req, url);
    if ('status' in admitted) return refuse(res, admitted);
    if (admitted.setCookie) res.setHeader('Set-Cookie', admitted.setCookie);
    routes(req, res, url).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof HttpError) return refuse(res, { status: err.status, message: err.message });
      logger.error({ error: String(err), path: url.pathname }, 'review: request failed');
      refuse(res, { status: 500, message: (err as Error).message ?? String(err) });
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => resolve());
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  const port = (server.address() as { port: number }).port;
  security = new ReviewSecurity({ host, port, token: opts.token, csrf });
  const shown = host === '0.0.0.0' || host === '::' ? os.hostname() : host.includes(':') ? `[${host}]` : host;
  logger.info({ url: `http://${shown}:${port}/`, records: store.index.size, loopback: isLoopbackHost(host) }, 'review server listening');
  let closing: Promise<void> | null = null;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections(); // keep-alive sockets would hold close() open
        });
        await writing;
        await store.close();
      })()),
  };
}
