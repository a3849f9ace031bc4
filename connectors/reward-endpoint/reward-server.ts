// The reward endpoint for trainers, on node:http. POST /get_reward speaks OpenRLHF's remote
// reward-model protocol: {"query": [...], "prompts": [...], "labels": [...]} in,
// {"rewards": [...], "scores": [...], "extra_logs": {...}} out (the same totals under both
// names: OpenRLHF reads `scores`, else `rewards`, and logs `extra_logs`, here the reward
// components). Each request becomes rollouts on the rollouts topic; the answer waits for
// their reward records. Current OpenRLHF posts one sample per request: with `grouping`, the
// samples of a prompt are grouped across requests (RolloutGrouper) for the reward-group node.
// GET /healthz says whether the pipeline can score now, GET /metrics serves prom-client's
// registry.
//
// Status codes: 400 for a bad body (the message names the field), 413 for a body or batch
// that is too large, 503 while the pipeline is down, 504 when records do not arrive in time
// (naming the rollouts), 502 when the pipeline dead-lettered a rollout.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, register as defaultRegistry } from 'prom-client';
import { errorMessage, ValidationError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { silentLogger } from '../../core/logger';
import { PipelineDownError, RewardExchange, RewardFailedError, RewardTimeoutError, ScoreAbortedError } from './reward-exchange';
import { contentRequestId, parseGetRewardRequest, rewardResponse, rolloutsFromRequest } from './reward-request';
import { Assignment, RolloutGrouper, RolloutGroupingOptions } from './rollout-grouper';

export interface RewardServerOptions {
  exchange: RewardExchange;
  /** Default 127.0.0.1: expose it deliberately (e.g. 0.0.0.0 behind a firewall). */
  host?: string;
  /** Default 0: any free port (see `url`). */
  port?: number;
  /** How long one request waits for its reward records (default 120 s). */
  timeoutMs?: number;
  /** Larger bodies get 413 (default 32 MiB). */
  maxBodyBytes?: number;
  /** Larger batches get 413 (default 4096 samples). */
  maxRollouts?: number;
  /** Stamped on the rollouts. */
  policyModel?: string | null;
  /**
   * Groups a prompt's samples across requests (see RolloutGrouper); without it, each
   * request's samples of a prompt are one group, whatever their number.
   */
  grouping?: RolloutGroupingOptions;
  logger?: Logger;
  /** Where the endpoint's metrics go and what /metrics serves (default prom-client's global registry). */
  registry?: Registry;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

interface Metrics {
  requests: Counter<'route' | 'status'>;
  rollouts: Counter<'outcome'>;
  duration: Histogram<'route'>;
  waiting: Gauge;
  promptMatches: Counter<'match'>;
}

function metricsIn(registry: Registry): Metrics {
  // Reuse what is registered: several servers (tests) share the global registry.
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    requests: get(
      'valor_reward_endpoint_requests_total',
      () =>
        new Counter({
          name: 'valor_reward_endpoint_requests_total',
          help: 'Requests to the reward endpoint by route and status',
          labelNames: ['route', 'status'],
          registers: [registry],
        }),
    ),
    rollouts: get(
      'valor_reward_endpoint_rollouts_total',
      () =>
        new Counter({
          name: 'valor_reward_endpoint_rollouts_total',
          help: 'Rollouts submitted through /get_reward, by outcome (scored, failed)',
          labelNames: ['outcome'],
          registers: [registry],
        }),
    ),
    duration: get(
      'valor_reward_endpoint_request_seconds',
      () =>
        new Histogram({
          name: 'valor_reward_endpoint_request_seconds',
          help: 'Time to answer /get_reward',
          labelNames: ['route'],
          buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
          registers: [registry],
        }),
    ),
    waiting: get(
      'valor_reward_endpoint_waiting_rollouts',
      () => new Gauge({ name: 'valor_reward_endpoint_waiting_rollouts', help: 'Rollouts waiting for their reward record', registers: [registry] }),
    ),
    promptMatches: get(
      'valor_reward_endpoint_prompt_matches_total',
      () =>
        new Counter({
          name: 'valor_reward_endpoint_prompt_matches_total',
          help: "How each sample's prompt was found in its query (exact, loose, truncated, absent; none without a prompt)",
          labelNames: ['match'],
          registers: [registry],
        }),
    ),
  };
}

export class RewardServer {
  private server?: http.Server;
  private readonly logger: Logger;
  private readonly registry: Registry;
  private readonly metrics: Metrics;
  private address = '';
  /** Null without the `grouping` option. */
  readonly grouper: RolloutGrouper | null;

  constructor(private readonly opts: RewardServerOptions) {
    this.logger = (opts.logger ?? silentLogger).child({ component: 'reward-endpoint' });
    this.registry = opts.registry ?? defaultRegistry;
    this.metrics = metricsIn(this.registry);
    this.grouper = opts.grouping ? new RolloutGrouper(opts.grouping) : null;
  }

  /** Base URL, e.g. http://127.0.0.1:8000 (after start). */
  get url(): string {
    return this.address;
  }

  async start(): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => (server.off('error', reject), resolve()));
    });
    const a = server.address() as AddressInfo;
    this.address = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return this.address;
  }

  /** Stops accepting; requests in flight finish (close the exchange to fail them fast). */
  async close(graceMs = 10_000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = path === '/get_reward' || path === '/healthz' || path === '/metrics' ? path : 'other';
    const started = performance.now();
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.metrics.requests.inc({ route, status: String(status) });
      if (route === '/get_reward') this.metrics.duration.observe({ route }, (performance.now() - started) / 1000);
      if (res.destroyed || res.writableEnded) return;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? this.registry.contentType : 'application/json', ...headers });
      res.end(text);
    };
    try {
      if (route === 'other') throw new HttpError(404, `no route for ${req.method} ${path}: POST /get_reward, GET /healthz, GET /metrics`);
      const method = route === '/get_reward' ? 'POST' : 'GET';
      if (req.method !== method) throw new HttpError(405, `${path} takes ${method}`);
      if (route === '/healthz') {
        const reason = this.opts.exchange.down();
        return send(reason ? 503 : 200, reason ? { status: 'down', reason } : { status: 'ok' });
      }
      if (route === '/metrics') return send(200, await this.registry.metrics());
      await this.getReward(req, res, send);
    } catch (err) {
      const status = statusOf(err);
      if (status === null) return; // the client went away
      if (status >= 500) this.logger.warn({ err: errorMessage(err), status, path }, 'reward endpoint request failed');
      const headers: Record<string, string> = status === 503 ? { 'retry-after': '5' } : {};
      send(status, { error: errorMessage(err) }, headers);
    }
  }

  private async getReward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    send: (status: number, body: unknown, headers?: Record<string, string>) => void,
  ): Promise<void> {
    const started = performance.now();
    const raw = await readBody(req, this.opts.maxBodyBytes ?? 32 * 2 ** 20);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new HttpError(400, `invalid JSON body: ${errorMessage(err)}`);
    }
    const parsed = parseGetRewardRequest(json);
    if (!parsed.ok) throw new HttpError(400, `invalid /get_reward body: ${parsed.error}`);
    const maxRollouts = this.opts.maxRollouts ?? 4096;
    if (parsed.value.query.length > maxRollouts) throw new HttpError(413, `query has ${parsed.value.query.length} items; at most ${maxRollouts} per request`);
    // Nothing to score (OpenRLHF sends empty shards to all but one of several reward URLs).
    if (parsed.value.query.length === 0) return send(200, rewardResponse([]));
    const reason = this.opts.exchange.down();
    if (reason) throw new PipelineDownError(reason);

    // Without a request id, one from the content: a retried request gets the same rollout ids.
    const header = req.headers['x-request-id'];
    const requestId = typeof header === 'string' && REQUEST_ID.test(header) ? header : contentRequestId(parsed.value);
    const mapping = { requestId, now: Date.now(), policyModel: this.opts.policyModel };
    const assignment: Assignment = this.grouper?.assign(parsed.value, mapping) ?? {
      rollouts: rolloutsFromRequest(parsed.value, mapping),
      settle: () => undefined,
    };
    const rollouts = assignment.rollouts;
    for (const r of rollouts) this.metrics.promptMatches.inc({ match: r.lineage.versions['request.prompt'] ?? (r.question ? 'exact' : 'none') });
    // Stop waiting when the client goes away; what was produced is still scored.
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    this.metrics.waiting.inc(rollouts.length);
    try {
      const records = await this.opts.exchange.score(rollouts, { timeoutMs: this.opts.timeoutMs ?? 120_000, signal: abort.signal });
      assignment.settle(true);
      this.metrics.rollouts.inc({ outcome: 'scored' }, records.length);
      this.logger.debug({ requestId, rollouts: rollouts.length, ms: Math.round(performance.now() - started) }, 'rewards sent');
      send(200, rewardResponse(records), { 'x-request-id': requestId });
    } catch (err) {
      // The trainer did not get these rewards: a retry of the request takes the same rollouts.
      assignment.settle(false);
      this.metrics.rollouts.inc({ outcome: 'failed' }, rollouts.length);
      throw err;
    } finally {
      this.metrics.waiting.dec(rollouts.length);
    }
  }
}

function statusOf(err: unknown): number | null {
  if (err instanceof HttpError) return err.status;
  if (err instanceof ScoreAbortedError) return null;
  if (err instanceof PipelineDownError) return 503;
  if (err instanceof RewardTimeoutError) return 504;
  if (err instanceof RewardFailedError) return 502;
  if (err instanceof ValidationError) return 400;
  return 500;
}

/**
 * The body, whole; 413 when it is larger than `max`. An oversized body is still read to its
 * end (and dropped), so the client gets the 413 rather than a reset connection; the
 * server's requestTimeout bounds how long that can take.
 */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    let size = 0;
    let chunks: Buffer[] | null = Number.isFinite(declared) && declared > max ? null : [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) chunks = null;
      chunks?.push(c);
    });
    req.on('end', () =>
      chunks ? resolve(Buffer.concat(chunks)) : reject(new HttpError(413, `request body of ${size} bytes is larger than the limit of ${max} bytes`)),
    );
    req.on('error', reject);
  });
}
