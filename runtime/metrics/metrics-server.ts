// The operations endpoint of a long-running process, on node:http:
//   GET /metrics  Prometheus text of every registry given (stream metrics, and prom-client's
//                 global registry, where the LLM providers and the reward endpoint count)
//   GET /healthz  200 while the process runs (liveness: restart me only if this fails)
//   GET /ready    200 when every readiness condition holds, else 503 listing the false ones
// Binds 127.0.0.1 unless told otherwise: exposing it is a deliberate choice.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../core/errors';
import type { Readiness } from './readiness';

export interface MetricsServerOptions {
  /** Served in order; a registry given twice is served once. */
  registries: Registry[];
  readiness: Readiness;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port (see `url`). */
  port?: number;
}

export class MetricsServer {
  private server?: http.Server;
  private address = '';
  private readonly started = Date.now();

  constructor(private readonly opts: MetricsServerOptions) {}

  /** Base URL, e.g. http://127.0.0.1:9464 (after start). */
  get url(): string {
    return this.address;
  }

  async start(): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => (server.off('error', reject), resolve()));
    });
    // Never what keeps a process alive: it lives as long as the work it reports on.
    server.unref();
    this.server = server;
    const a = server.address() as AddressInfo;
    this.address = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return this.address;
  }

  /** Stops listening and drops open connections (scrapers keep theirs alive). */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ error: `${path} takes GET` }));
      if (path === '/metrics') {
        const registries = [...new Set(this.opts.registries)];
        const texts = await Promise.all(registries.map((r) => r.metrics()));
        return send(200, texts.filter((t) => t.trim()).join('\n'), registries[0]?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8');
      }
      if (path === '/healthz') return send(200, JSON.stringify({ status: 'alive', uptimeSeconds: Math.round((Date.now() - this.started) / 1000) }));
      if (path === '/ready') {
        const r = this.opts.readiness.check();
        const failing = r.failing.map(({ name, reason, since }) => ({ condition: name, reason: reason ?? 'false', ...(since ? { since } : {}) }));
        return send(r.ready ? 200 : 503, JSON.stringify({ status: r.ready ? 'ready' : 'not ready', failing, conditions: r.conditions }));
      }
      send(404, JSON.stringify({ error: `no route for ${path}: GET /metrics, /healthz, /ready` }));
    } catch (err) {
      send(500, JSON.stringify({ error: errorMessage(err) }));
    }
  }
}

/** Starts a metrics server; resolves once it listens. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = new MetricsServer(opts);
  await server.start();
  return server;
}
