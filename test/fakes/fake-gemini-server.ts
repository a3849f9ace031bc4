// A real HTTP server on 127.0.0.1 speaking the Vertex AI generateContent endpoint that
// @google/genai calls with `vertexai: true` and a base URL:
//   POST {baseUrl}/{v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent
// Errors come in Google's shape {error: {code, message, status, details?}}.
import { jsonSender, LocalHttpServer, readBody } from './local-http';
import * as http from 'node:http';
import { FaultInjector, FaultOptions, malformAnswer, sleepUnlessClosed } from './fake-faults';
import { FakeModelRequest, FakeOracle, FakeRequestError } from './fake-openai-server';
import { addUsage, emptyUsageTotals, FakePromptCache, UsageTotals } from './fake-prompt-cache';
import { measurePrompt, PromptPart } from './openai-wire';

const PATH = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):generateContent$/;

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export interface FakeGeminiOptions {
  oracle: FakeOracle;
  faults?: FaultInjector | FaultOptions;
  /** When set, requests without `Authorization: Bearer <token>` get 401 UNAUTHENTICATED. */
  requireToken?: string;
  /** How a 429/503 says when to come back: Google's RetryInfo detail, a Retry-After header, both or neither. */
  retryHint?: 'retry-info' | 'header' | 'both' | 'none';
  /** Reported as modelVersion; defaults to the model in the path. */
  modelVersion?: string;
  /** thoughtsTokenCount to report (thinking models). */
  thoughtsTokens?: number;
  /** Cached prompts unused this long are forgotten (default: never). */
  promptCacheTtlMs?: number;
}

export interface FakeGeminiCall extends FakeModelRequest {
  apiVersion: string;
  project: string;
  location: string;
  hadAuthorization: boolean;
  authorization?: string;
}

export class FakeGeminiServer {
  readonly calls: FakeGeminiCall[] = [];
  readonly faults: FaultInjector;
  /**
   * Gemini's implicit caching. It documents a minimum prefix (1024 tokens on 2.5 Flash, more
   * on Pro) but no 128-token step; the fake uses OpenAI's rule for both, for simplicity.
   */
  readonly promptCache: FakePromptCache;
  /** Tokens of every answer served. */
  readonly usageTotals: UsageTotals = emptyUsageTotals();
  private readonly http = new LocalHttpServer();
  private n = 0;

  constructor(private readonly opts: FakeGeminiOptions) {
    this.faults = opts.faults instanceof FaultInjector ? opts.faults : new FaultInjector(opts.faults);
    this.promptCache = new FakePromptCache({ ttlMs: opts.promptCacheTtlMs });
  }

  /** The base URL to give the SDK (httpOptions.baseUrl); it appends version and path. */
  async start(): Promise<string> {
    const port = await this.http.listen((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (res.headersSent || res.destroyed) return void res.destroy();
        const status = err instanceof FakeRequestError ? 400 : 500;
        this.faults.noteStatus(status);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: status, message: `fake server: ${String((err as Error)?.message ?? err)}`, status: GOOGLE_STATUS[status] } }));
      });
    });
    return `http://127.0.0.1:${port}`;
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const closed = new Promise<void>((r) => res.once('close', () => r()));
    const raw = await readBody(req);
    const send = jsonSender(res, (status) => this.faults.noteStatus(status), 'application/json; charset=UTF-8');
    const fail = (status: number, message: string, retryAfterMs?: number) => {
      const hint = this.opts.retryHint ?? 'retry-info';
      const details =
        retryAfterMs !== undefined && (hint === 'retry-info' || hint === 'both')
          ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterMs / 1000}s` }]
          : undefined;
      const headers: Record<string, string> =
        retryAfterMs !== undefined && (hint === 'header' || hint === 'both') ? { 'retry-after': String(Math.ceil(retryAfterMs / 1000)) } : {};
      send(status, { error: { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN', ...(details ? { details } : {}) } }, headers);
    };

    const m = req.method === 'POST' ? PATH.exec((req.url ?? '').split('?')[0]!) : null;
    if (!m) return fail(404, `fake gemini: no route for ${req.method} ${req.url}`);
    const [, apiVersion, project, location, model] = m as unknown as [string, string, string, string, string];
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw.toString('utf8') || '{}');
    } catch {
      return fail(400, 'Invalid JSON payload received.');
    }
    if (!Array.isArray(body.contents) || body.contents.length === 0) return fail(400, 'contents is not specified');

    const texts: string[] = [];
    const images: Buffer[] = [];
    const parts: PromptPart[] = [];
    for (const c of body.contents) {
      for (const p of Array.isArray(c?.parts) ? c.parts : []) {
        if (typeof p?.text === 'string') {
          texts.push(p.text);
          parts.push({ type: 'text', text: p.text });
        }
        if (p?.inlineData?.data) {
          const image = Buffer.from(String(p.inlineData.data), 'base64');
          images.push(image);
          parts.push({ type: 'image', image });
        }
      }
    }
    const sys = (body.systemInstruction?.parts ?? []).map((p: { text?: string }) => p.text).filter((t: unknown) => typeof t === 'string');
    const authorization = req.headers.authorization;
    const call: FakeGeminiCall = {
      endpoint: 'gemini',
      model: decodeURIComponent(model),
      text: texts.join('\n'),
      instructions: sys.length ? sys.join('\n') : undefined,
      images,
      body,
      apiVersion,
      project: decodeURIComponent(project),
      location: decodeURIComponent(location),
      hadAuthorization: Boolean(authorization),
      authorization,
    };
    this.calls.push(call);
    this.faults.noteRequest('gemini');
    const n = ++this.n;

    if (this.opts.requireToken !== undefined && authorization !== `Bearer ${this.opts.requireToken}`) {
      return fail(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
    await sleepUnlessClosed(this.faults.latencyMs(), closed);
    const decision = await this.faults.decideFor(res, closed);
    if (!decision) return;
    if (decision.kind === 'status') {
      const message =
        decision.status === 429
          ? 'Resource exhausted. Please try again later.'
          : decision.status === 503
            ? 'The service is currently unavailable.'
            : decision.reason;
      return fail(decision.status, message, decision.retryAfterMs);
    }
    let answer = await this.opts.oracle(call);
    // Unlike the OpenAI fake, the response schema is left out of the input: a simplification.
    const prompt = await measurePrompt(call, parts);
    const cachedTokens = this.promptCache.serve(call.model, prompt.segments, prompt.inputTokens);
    const usage = { inputTokens: prompt.inputTokens, cachedTokens, outputTokens: Math.ceil(answer.length / 4) };
    if (decision.malformed) answer = malformAnswer(answer);
    if (res.destroyed) return;
    this.faults.noteServed('gemini', decision.malformed);
    addUsage(this.usageTotals, usage);
    const thoughts = this.opts.thoughtsTokens;
    send(200, {
      candidates: [{ content: { role: 'model', parts: [{ text: answer }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: {
        promptTokenCount: usage.inputTokens,
        // Omitted when nothing was cached, as Gemini does.
        ...(usage.cachedTokens ? { cachedContentTokenCount: usage.cachedTokens } : {}),
        candidatesTokenCount: usage.outputTokens,
        ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
        totalTokenCount: usage.inputTokens + usage.outputTokens + (thoughts ?? 0),
      },
      modelVersion: this.opts.modelVersion ?? decodeURIComponent(model),
      responseId: `fake-${n}`,
    });
  }
}
