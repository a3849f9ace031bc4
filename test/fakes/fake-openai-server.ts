// A real HTTP server on 127.0.0.1 that speaks the OpenAI wire formats (Chat Completions,
// Responses, model list), so the real openai SDK can be tested against scripted answers
// and the faults of fake-faults.ts.
import { jsonSender, LocalHttpServer, readBody } from './local-http';
import * as http from 'node:http';
import { FaultInjector, FaultOptions, malformAnswer, SeededRng, sleepUnlessClosed } from './fake-faults';
import { addUsage, emptyUsageTotals, FakePromptCache, UsageTotals } from './fake-prompt-cache';
import { BatchLine, BatchLineResult, FakeBatchOptions, FakeOpenAIBatches } from './fake-openai-batches';
import { FakeOpenAIFiles } from './fake-openai-files';
import {
  chatCompletionBody,
  errorBody,
  FakeModelRequest,
  FakeOracle,
  FakeRequestError,
  FakeUsage,
  measurePrompt,
  Normalized,
  normalizeChat,
  normalizeResponses,
  responseBody,
} from './openai-wire';

// Kept importable from here, where the tests and the Gemini fake have always found them.
export { decodeDataUrl, estimateUsage, FakeRequestError } from './openai-wire';
export type { FakeModelRequest, FakeOracle } from './openai-wire';

const SERVICE_TIERS = new Set(['auto', 'default', 'flex', 'scale', 'priority']);

/** The error body OpenAI sends when flex capacity runs out (HTTP 429, no Retry-After). */
export const FLEX_UNAVAILABLE = {
  error: {
    message: 'Resource Unavailable: flex capacity is temporarily exhausted; retry later or use the default tier',
    type: 'server_error',
    param: null,
    code: 'resource_unavailable',
  },
};

export interface FlexOptions {
  /** Share of flex requests refused with 429 resource_unavailable (0..1), drawn from a seeded RNG. */
  unavailableRate: number;
  seed?: number;
  /** Added to every flex request served (flex is slower). */
  extraLatencyMs?: number;
}

export interface ServiceTierCounters {
  /** Requests that asked for service_tier 'flex'. */
  flexRequests: number;
  /** Of those, refused with 429 resource_unavailable. */
  flexUnavailable: number;
  /** Answers served, by the tier billed (the service_tier echoed). */
  served: Record<string, number>;
}

export interface FakeOpenAIOptions {
  /** Legacy chat-style callback (the planner tests); `oracle` is preferred. */
  answer?: (req: { model: string; messages: Array<{ role: string; content: unknown }>; body: Record<string, unknown> }) => string | Promise<string>;
  /** The answer to any model request, from its normalized form. Wins over `answer`. */
  oracle?: FakeOracle;
  /** Faults shared with other fakes (pass the same injector) or options for a new one. */
  faults?: FaultInjector | FaultOptions;
  /** Which Retry-After headers a 429/503 carries. */
  retryAfterHeaders?: 'both' | 'seconds' | 'ms' | 'http-date' | 'none';
  /** Ids listed by GET /v1/models. */
  models?: string[];
  latencyMs?: number;
  /** Answer HTTP 500 to the first N completion requests. */
  failFirst?: number;
  /** Answer HTTP 429 (Retry-After: 0) to the first N completion requests. */
  rateLimitFirst?: number;
  /** Answer this status (e.g. 400) to every completion request. */
  alwaysStatus?: number;
  /** Cached prompts unused this long are forgotten (default: never). */
  promptCacheTtlMs?: number;
  /** Flex capacity: how often service_tier 'flex' is refused, and how much slower it is. */
  flex?: FlexOptions;
  /** Batch API timing and failures. */
  batch?: FakeBatchOptions;
}

export class FakeOpenAIServer {
  /** Every parsed model request (chat and responses), as sent. */
  readonly requests: Array<{ body: Record<string, unknown>; hadAuthorization: boolean }> = [];
  /** The same requests, normalized, with the Authorization header as received. */
  readonly calls: Array<FakeModelRequest & { authorization?: string }> = [];
  /** Requests answered inside batches (never in `requests`/`calls`), normalized, in the order run. */
  readonly batchCalls: Array<FakeModelRequest & { batchId: string; customId: string }> = [];
  readonly faults: FaultInjector;
  /** The prompts seen, per model; clear() it for a cold cache. */
  readonly promptCache: FakePromptCache;
  /** Tokens of every answer served, sync and batch; `batch` is the batch share of them. */
  readonly usageTotals: UsageTotals & { batch: UsageTotals } = { ...emptyUsageTotals(), batch: emptyUsageTotals() };
  readonly serviceTiers: ServiceTierCounters = { flexRequests: 0, flexUnavailable: 0, served: {} };
  /** The Files and Batch APIs (files, batchSubmissions, counters). */
  readonly batches: FakeOpenAIBatches;
  private readonly http = new LocalHttpServer();
  private readonly flexRng: SeededRng;
  private completions = 0;
  private batchAnswers = 0;

  constructor(private readonly opts: FakeOpenAIOptions) {
    if (!opts.answer && !opts.oracle) throw new Error('FakeOpenAIServer needs an `oracle` (or the legacy `answer`) to answer with');
    this.faults = opts.faults instanceof FaultInjector ? opts.faults : new FaultInjector(opts.faults);
    this.promptCache = new FakePromptCache({ ttlMs: opts.promptCacheTtlMs });
    this.flexRng = new SeededRng(opts.flex?.seed ?? 1);
    this.batches = new FakeOpenAIBatches(opts.batch ?? {}, new FakeOpenAIFiles(Date.now), (line) => this.runBatchLine(line));
  }

  /** For every custom_id, how many batches it was submitted in. */
  get batchSubmissions(): Map<string, number> {
    return this.batches.batchSubmissions;
  }

  async start(): Promise<string> {
    const port = await this.http.listen((req, res) => {
      // A throwing oracle or a bad body must fail the request, not the test process.
      this.handle(req, res).catch((err: unknown) => {
        if (res.headersSent || res.destroyed) return void res.destroy();
        const bad = err instanceof FakeRequestError;
        this.faults.noteStatus(bad ? 400 : 500);
        res.writeHead(bad ? 400 : 500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: { message: `fake server: ${String((err as Error)?.message ?? err)}`, type: bad ? 'invalid_request_error' : 'server_error' },
          }),
        );
      });
    });
    return `http://127.0.0.1:${port}/v1`;
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const closed = new Promise<void>((r) => res.once('close', () => r()));
    const raw = await readBody(req);
    const send = jsonSender(res, (status) => this.faults.noteStatus(status));
    const fail = (status: number, message: string, retryAfterMs?: number) => send(status, errorBody(status, message), this.retryAfter(retryAfterMs));
    if (req.method === 'GET' && req.url === '/v1/models') {
      return send(200, { object: 'list', data: (this.opts.models ?? ['fake']).map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })) });
    }
    const routed = await this.batches.route(req.method ?? 'GET', req.url ?? '/', req.headers['content-type'], raw);
    if (routed) {
      if (!('raw' in routed)) return send(routed.status, routed.json);
      if (res.destroyed) return;
      this.faults.noteStatus(routed.status);
      res.writeHead(routed.status, { 'content-type': routed.contentType });
      return void res.end(routed.raw);
    }
    const endpoint =
      req.method === 'POST' && req.url === '/v1/chat/completions' ? 'chat' : req.method === 'POST' && req.url === '/v1/responses' ? 'responses' : undefined;
    if (!endpoint) return send(404, { error: { message: 'not found' } });
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw.toString('utf8') || '{}');
    } catch {
      return send(400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
    }
    const authorization = req.headers.authorization;
    this.requests.push({ body, hadAuthorization: Boolean(authorization) });
    const normalized = endpoint === 'chat' ? normalizeChat(body) : normalizeResponses(body);
    this.calls.push({ ...normalized.req, authorization });
    this.faults.noteRequest(endpoint);
    const n = ++this.completions;
    const tier = body.service_tier ?? 'auto';
    if (!SERVICE_TIERS.has(tier)) {
      const values = [...SERVICE_TIERS].map((t) => `'${t}'`).join(', ');
      return send(400, errorBody(400, `Invalid value: '${String(tier)}'. Supported values are: ${values}.`, 'invalid_value', 'service_tier'));
    }
    if (tier === 'flex') this.serviceTiers.flexRequests++;

    await sleepUnlessClosed((this.opts.latencyMs ?? 0) + this.faults.latencyMs(), closed);
    if (this.opts.alwaysStatus) return send(this.opts.alwaysStatus, { error: { message: 'scripted failure', type: 'invalid_request_error' } });
    if (n <= (this.opts.rateLimitFirst ?? 0)) return send(429, { error: { message: 'rate limited', type: 'rate_limit' } }, { 'retry-after': '0' });
    if (n <= (this.opts.rateLimitFirst ?? 0) + (this.opts.failFirst ?? 0)) return send(500, { error: { message: 'boom', type: 'server_error' } });

    const decision = await this.faults.decideFor(res, closed);
    if (!decision) return;
    if (decision.kind === 'status') {
      // A 401 that repeats the key it got, as some proxies do: providers must scrub it.
      const message = decision.status === 401 ? `Incorrect API key provided: ${authorization?.replace(/^Bearer /, '') ?? '(none)'}` : decision.reason;
      return fail(decision.status, message, decision.retryAfterMs);
    }
    if (tier === 'flex') {
      // Drawn only for flex requests, so the other tiers never shift the sequence.
      if (this.opts.flex && this.flexRng.next() < this.opts.flex.unavailableRate) {
        this.serviceTiers.flexUnavailable++;
        return send(429, FLEX_UNAVAILABLE);
      }
      await sleepUnlessClosed(this.opts.flex?.extraLatencyMs ?? 0, closed);
    }

    const { answer: clean, usage } = await this.answer(normalized, n);
    const answer = decision.malformed ? malformAnswer(clean) : clean;
    if (res.destroyed) return;
    this.faults.noteServed(endpoint, decision.malformed);
    // Billed as asked: flex and priority when asked, the default tier for auto/default/scale.
    const served = tier === 'flex' || tier === 'priority' ? tier : 'default';
    this.serviceTiers.served[served] = (this.serviceTiers.served[served] ?? 0) + 1;
    addUsage(this.usageTotals, usage);
    send(200, endpoint === 'chat' ? chatCompletionBody(n, body.model, answer, usage, served) : responseBody(n, body.model, answer, usage, served));
  }

  /** The answer to one request and its usage; a served prompt warms the prompt cache. */
  private async answer(normalized: Normalized, n: number): Promise<{ answer: string; usage: FakeUsage }> {
    const { req, parts, schema } = normalized;
    let answer: string;
    if (this.opts.oracle) answer = await this.opts.oracle(req);
    else {
      const messages =
        req.endpoint === 'chat'
          ? req.body.messages
          : [
              ...(req.instructions ? [{ role: 'system', content: req.instructions }] : []),
              ...(Array.isArray(req.body.input) ? req.body.input : [{ role: 'user', content: req.body.input }]),
            ];
      answer = await this.opts.answer!({ model: req.body.model, messages, body: req.body });
      // The planner tests pin these numbers: 100 + request number in, one token per character out.
      if (req.endpoint === 'chat') return { answer, usage: { inputTokens: 100 + n, cachedTokens: 0, outputTokens: answer.length } };
    }
    const m = await measurePrompt(req, parts, schema);
    const cachedTokens = this.promptCache.serve(req.model, m.segments, m.inputTokens);
    return { answer, usage: { inputTokens: m.inputTokens, cachedTokens, outputTokens: Math.ceil(answer.length / 4) } };
  }

  /** One batch line, answered by the same oracle and usage rules as a synchronous call. */
  private async runBatchLine(line: BatchLine): Promise<BatchLineResult> {
    const chat = line.url === '/v1/chat/completions';
    const normalized = chat ? normalizeChat(line.body) : normalizeResponses(line.body);
    this.batchCalls.push({ ...normalized.req, batchId: line.batchId, customId: line.customId });
    const k = ++this.batchAnswers;
    try {
      const { answer, usage } = await this.answer(normalized, k);
      addUsage(this.usageTotals, usage);
      addUsage(this.usageTotals.batch, usage);
      const id = `batch${k}`;
      return {
        statusCode: 200,
        body: chat ? chatCompletionBody(k, line.body.model, answer, usage, 'default') : responseBody(id, line.body.model, answer, usage, 'default'),
        usage,
      };
    } catch (err) {
      const status = err instanceof FakeRequestError ? 400 : 500;
      return { statusCode: status, body: errorBody(status, `fake server: ${String((err as Error)?.message ?? err)}`) };
    }
  }

  private retryAfter(ms: number | undefined): Record<string, string> {
    if (ms === undefined) return {};
    const style = this.opts.retryAfterHeaders ?? 'both';
    const seconds = String(Math.ceil(ms / 1000));
    if (style === 'none') return {};
    if (style === 'ms') return { 'retry-after-ms': String(ms) };
    if (style === 'seconds') return { 'retry-after': seconds };
    if (style === 'http-date') return { 'retry-after': new Date(Date.now() + ms).toUTCString() };
    return { 'retry-after-ms': String(ms), 'retry-after': seconds };
  }
}
