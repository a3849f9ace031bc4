// A real HTTP server on 127.0.0.1 that speaks the OpenAI wire formats (Chat Completions,
// Responses, model list), so the real openai SDK can be tested against scripted answers
// and the faults of fake-faults.ts.
import { jsonSender, LocalHttpServer, readBody } from './local-http';
import * as http from 'node:http';
import sharp from 'sharp';
import { FaultInjector, FaultOptions, malformAnswer, sleepUnlessClosed } from './fake-faults';

/** One model request, the same for every fake endpoint, for oracles and assertions. */
export interface FakeModelRequest {
  endpoint: 'chat' | 'responses' | 'gemini';
  model: string;
  /** Every text part of the request joined with "\n"; system prompt / instructions excluded. */
  text: string;
  /** The system prompt / instructions / systemInstruction, if any. */
  instructions?: string;
  /** Inline images (data URLs, inlineData), decoded, in order. */
  images: Buffer[];
  body: Record<string, any>;
}

export type FakeOracle = (req: FakeModelRequest) => string | Promise<string>;

/** A request whose content the fake refuses, as the real API would (HTTP 400). */
export class FakeRequestError extends Error {}

const IMAGE_DATA_URL = /^data:(image\/[\w.+-]+);base64,(.*)$/s;

/** Decodes an inline image; non-data URLs (which the fake cannot fetch) give undefined. */
export function decodeDataUrl(url: unknown): Buffer | undefined {
  if (typeof url !== 'string') return undefined;
  const m = IMAGE_DATA_URL.exec(url);
  return m ? Buffer.from(m[2]!, 'base64') : undefined;
}

/**
 * Plausible token counts: a token per 4 characters of text (instructions included, as they
 * are billed) and one per 32x32 tile of each image. Images that do not decode are refused.
 */
export async function estimateUsage(req: FakeModelRequest, answer: string): Promise<{ inputTokens: number; outputTokens: number }> {
  let input = Math.ceil((req.text.length + (req.instructions?.length ?? 0)) / 4);
  for (const [i, img] of req.images.entries()) {
    let meta: { width?: number; height?: number };
    try {
      meta = await sharp(img).metadata();
    } catch (err) {
      throw new FakeRequestError(`image ${i} is not a decodable image: ${(err as Error).message}`);
    }
    input += Math.ceil((meta.width ?? 0) / 32) * Math.ceil((meta.height ?? 0) / 32);
  }
  return { inputTokens: input, outputTokens: Math.ceil(answer.length / 4) };
}

function normalizeChat(body: Record<string, any>): Omit<FakeModelRequest, 'endpoint' | 'body'> {
  const texts: string[] = [];
  const system: string[] = [];
  const images: Buffer[] = [];
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    const sink = m?.role === 'system' || m?.role === 'developer' ? system : texts;
    if (typeof m?.content === 'string') sink.push(m.content);
    else if (Array.isArray(m?.content)) {
      for (const p of m.content) {
        if (p?.type === 'text' && typeof p.text === 'string') sink.push(p.text);
        if (p?.type === 'image_url') {
          const img = decodeDataUrl(p.image_url?.url);
          if (img) images.push(img);
        }
      }
    }
  }
  return { model: String(body.model ?? ''), text: texts.join('\n'), instructions: system.length ? system.join('\n') : undefined, images };
}

function normalizeResponses(body: Record<string, any>): Omit<FakeModelRequest, 'endpoint' | 'body'> {
  const texts: string[] = [];
  const system: string[] = typeof body.instructions === 'string' ? [body.instructions] : [];
  const images: Buffer[] = [];
  const items = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : Array.isArray(body.input) ? body.input : [];
  for (const item of items) {
    const sink = item?.role === 'system' || item?.role === 'developer' ? system : texts;
    if (typeof item?.content === 'string') sink.push(item.content);
    else if (Array.isArray(item?.content)) {
      for (const p of item.content) {
        if ((p?.type === 'input_text' || p?.type === 'output_text') && typeof p.text === 'string') sink.push(p.text);
        if (p?.type === 'input_image') {
          const img = decodeDataUrl(p.image_url);
          if (img) images.push(img);
        }
      }
    }
  }
  return { model: String(body.model ?? ''), text: texts.join('\n'), instructions: system.length ? system.join('\n') : undefined, images };
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
}

const ERROR_TYPES: Record<number, [type: string, code: string | null]> = {
  400: ['invalid_request_error', null],
  401: ['invalid_request_error', 'invalid_api_key'],
  403: ['invalid_request_error', 'unsupported_country_region_territory'],
  404: ['invalid_request_error', 'model_not_found'],
  429: ['requests', 'rate_limit_exceeded'],
  500: ['server_error', null],
  503: ['server_error', 'service_unavailable'],
};

export class FakeOpenAIServer {
  /** Every parsed model request (chat and responses), as sent. */
  readonly requests: Array<{ body: Record<string, unknown>; hadAuthorization: boolean }> = [];
  /** The same requests, normalized, with the Authorization header as received. */
  readonly calls: Array<FakeModelRequest & { authorization?: string }> = [];
  readonly faults: FaultInjector;
  private readonly http = new LocalHttpServer();
  private completions = 0;

  constructor(private readonly opts: FakeOpenAIOptions) {
    if (!opts.answer && !opts.oracle) throw new Error('FakeOpenAIServer needs an `oracle` (or the legacy `answer`) to answer with');
    this.faults = opts.faults instanceof FaultInjector ? opts.faults : new FaultInjector(opts.faults);
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
    const fail = (status: number, message: string, retryAfterMs?: number) => {
      const [type, code] = ERROR_TYPES[status] ?? (status >= 500 ? ['server_error', null] : ['invalid_request_error', null]);
      send(status, { error: { message, type, param: null, code } }, this.retryAfter(retryAfterMs));
    };
    if (req.method === 'GET' && req.url === '/v1/models') {
      return send(200, { object: 'list', data: (this.opts.models ?? ['fake']).map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })) });
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
    const normalized: FakeModelRequest = { endpoint, body, ...(endpoint === 'chat' ? normalizeChat(body) : normalizeResponses(body)) };
    this.calls.push({ ...normalized, authorization });
    this.faults.noteRequest(endpoint);
    const n = ++this.completions;

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

    let answer: string;
    let usage: { inputTokens: number; outputTokens: number };
    if (this.opts.oracle) {
      answer = await this.opts.oracle(normalized);
      usage = await estimateUsage(normalized, answer);
    } else {
      const messages =
        endpoint === 'chat'
          ? body.messages
          : [
              ...(normalized.instructions ? [{ role: 'system', content: normalized.instructions }] : []),
              ...(Array.isArray(body.input) ? body.input : [{ role: 'user', content: body.input }]),
            ];
      answer = await this.opts.answer!({ model: body.model, messages, body });
      // The planner tests pin these numbers: 100 + request number in, one token per character out.
      usage = endpoint === 'chat' ? { inputTokens: 100 + n, outputTokens: answer.length } : await estimateUsage(normalized, answer);
    }
    if (decision.malformed) answer = malformAnswer(answer);
    if (res.destroyed) return;
    this.faults.noteServed(endpoint, decision.malformed);
    if (endpoint === 'chat') {
      return send(200, {
        id: `chatcmpl-${n}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens },
      });
    }
    send(200, {
      id: `resp_${n}`,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status: 'completed',
      error: null,
      incomplete_details: null,
      model: body.model,
      output: [{ type: 'message', id: `msg_${n}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: answer, annotations: [] }] }],
      usage: {
        input_tokens: usage.inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: usage.outputTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: usage.inputTokens + usage.outputTokens,
      },
    });
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
