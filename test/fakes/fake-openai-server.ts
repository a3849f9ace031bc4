// A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions wire format,
// so the real openai SDK can be tested against scripted answers and faults.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeOpenAIOptions {
  answer: (req: { model: string; messages: Array<{ role: string; content: unknown }>; body: Record<string, unknown> }) => string | Promise<string>;
  latencyMs?: number;
  /** Answer HTTP 500 to the first N completion requests. */
  failFirst?: number;
  /** Answer HTTP 429 (Retry-After: 0) to the first N completion requests. */
  rateLimitFirst?: number;
  /** Answer this status (e.g. 400) to every completion request. */
  alwaysStatus?: number;
}

export class FakeOpenAIServer {
  readonly requests: Array<{ body: Record<string, unknown>; hadAuthorization: boolean }> = [];
  private server?: http.Server;
  private completions = 0;

  constructor(private readonly opts: FakeOpenAIOptions) {}

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      // A throwing `answer` or a bad body must fail the request, not the test process.
      this.handle(req, res).catch((err: unknown) => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `fake server: ${String((err as Error)?.message ?? err)}`, type: 'server_error' } }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    const server = this.server;
    this.server = undefined;
    // The SDK keeps connections alive; without this, close() waits for them to time out.
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/v1/models') return send(200, { object: 'list', data: [{ id: 'fake', object: 'model' }] });
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return send(404, { error: { message: 'not found' } });
    let body: Record<string, any>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      return send(400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
    }
    this.requests.push({ body, hadAuthorization: Boolean(req.headers.authorization) });
    const n = ++this.completions;
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    if (this.opts.alwaysStatus) return send(this.opts.alwaysStatus, { error: { message: 'scripted failure', type: 'invalid_request_error' } });
    if (n <= (this.opts.rateLimitFirst ?? 0)) return send(429, { error: { message: 'rate limited', type: 'rate_limit' } }, { 'retry-after': '0' });
    if (n <= (this.opts.rateLimitFirst ?? 0) + (this.opts.failFirst ?? 0)) return send(500, { error: { message: 'boom', type: 'server_error' } });
    const content = await this.opts.answer({ model: body.model, messages: body.messages, body });
    send(200, {
      id: `chatcmpl-${n}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 100 + n, completion_tokens: content.length, total_tokens: 100 + n + content.length },
    });
  }
}
