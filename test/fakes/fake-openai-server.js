"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.FakeOpenAIServer = exports.FakeRequestError = void 0;
exports.decodeDataUrl = decodeDataUrl;
exports.estimateUsage = estimateUsage;
// A real HTTP server on 127.0.0.1 that speaks the OpenAI wire formats (Chat Completions,
// Responses, model list), so the real openai SDK can be tested against scripted answers
// and the faults of fake-faults.ts.
const local_http_1 = require("./local-http");
const sharp_1 = __importDefault(require("sharp"));
const fake_faults_1 = require("./fake-faults");
/** A request whose content the fake refuses, as the real API would (HTTP 400). */
class FakeRequestError extends Error {
}
exports.FakeRequestError = FakeRequestError;
const IMAGE_DATA_URL = /^data:(image\/[\w.+-]+);base64,(.*)$/s;
/** Decodes an inline image; non-data URLs (which the fake cannot fetch) give undefined. */
function decodeDataUrl(url) {
    if (typeof url !== 'string')
        return undefined;
    const m = IMAGE_DATA_URL.exec(url);
    return m ? Buffer.from(m[2], 'base64') : undefined;
}
/**
 * Plausible token counts: a token per 4 characters of text (instructions included, as they
 * are billed) and one per 32x32 tile of each image. Images that do not decode are refused.
 */
async function estimateUsage(req, answer) {
    let input = Math.ceil((req.text.length + (req.instructions?.length ?? 0)) / 4);
    for (const [i, img] of req.images.entries()) {
        let meta;
        try {
            meta = await (0, sharp_1.default)(img).metadata();
        }
        catch (err) {
            throw new FakeRequestError(`image ${i} is not a decodable image: ${err.message}`);
        }
        input += Math.ceil((meta.width ?? 0) / 32) * Math.ceil((meta.height ?? 0) / 32);
    }
    return { inputTokens: input, outputTokens: Math.ceil(answer.length / 4) };
}
function normalizeChat(body) {
    const texts = [];
    const system = [];
    const images = [];
    for (const m of Array.isArray(body.messages) ? body.messages : []) {
        const sink = m?.role === 'system' || m?.role === 'developer' ? system : texts;
        if (typeof m?.content === 'string')
            sink.push(m.content);
        else if (Array.isArray(m?.content)) {
            for (const p of m.content) {
                if (p?.type === 'text' && typeof p.text === 'string')
                    sink.push(p.text);
                if (p?.type === 'image_url') {
                    const img = decodeDataUrl(p.image_url?.url);
                    if (img)
                        images.push(img);
                }
            }
        }
    }
    return { model: String(body.model ?? ''), text: texts.join('\n'), instructions: system.length ? system.join('\n') : undefined, images };
}
function normalizeResponses(body) {
    const texts = [];
    const system = typeof body.instructions === 'string' ? [body.instructions] : [];
    const images = [];
    const items = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : Array.isArray(body.input) ? body.input : [];
    for (const item of items) {
        const sink = item?.role === 'system' || item?.role === 'developer' ? system : texts;
        if (typeof item?.content === 'string')
            sink.push(item.content);
        else if (Array.isArray(item?.content)) {
            for (const p of item.content) {
                if ((p?.type === 'input_text' || p?.type === 'output_text') && typeof p.text === 'string')
                    sink.push(p.text);
                if (p?.type === 'input_image') {
                    const img = decodeDataUrl(p.image_url);
                    if (img)
                        images.push(img);
                }
            }
        }
    }
    return { model: String(body.model ?? ''), text: texts.join('\n'), instructions: system.length ? system.join('\n') : undefined, images };
}
const ERROR_TYPES = {
    400: ['invalid_request_error', null],
    401: ['invalid_request_error', 'invalid_api_key'],
    403: ['invalid_request_error', 'unsupported_country_region_territory'],
    404: ['invalid_request_error', 'model_not_found'],
    429: ['requests', 'rate_limit_exceeded'],
    500: ['server_error', null],
    503: ['server_error', 'service_unavailable'],
};
class FakeOpenAIServer {
    opts;
    /** Every parsed model request (chat and responses), as sent. */
    requests = [];
    /** The same requests, normalized, with the Authorization header as received. */
    calls = [];
    faults;
    http = new local_http_1.LocalHttpServer();
    completions = 0;
    constructor(opts) {
        this.opts = opts;
        if (!opts.answer && !opts.oracle)
            throw new Error('FakeOpenAIServer needs an `oracle` (or the legacy `answer`) to answer with');
        this.faults = opts.faults instanceof fake_faults_1.FaultInjector ? opts.faults : new fake_faults_1.FaultInjector(opts.faults);
    }
    async start() {
        const port = await this.http.listen((req, res) => {
            // A throwing oracle or a bad body must fail the request, not the test process.
            this.handle(req, res).catch((err) => {
                if (res.headersSent || res.destroyed)
                    return void res.destroy();
                const bad = err instanceof FakeRequestError;
                this.faults.noteStatus(bad ? 400 : 500);
                res.writeHead(bad ? 400 : 500, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ error: { message: `fake server: ${String(err?.message ?? err)}`, type: bad ? 'invalid_request_error' : 'server_error' } }));
            });
        });
        return `http://127.0.0.1:${port}/v1`;
    }
    close() {
        return this.http.close();
    }
    async handle(req, res) {
        const closed = new Promise((r) => res.once('close', () => r()));
        const raw = await (0, local_http_1.readBody)(req);
        const send = (0, local_http_1.jsonSender)(res, (status) => this.faults.noteStatus(status));
        const fail = (status, message, retryAfterMs) => {
            const [type, code] = ERROR_TYPES[status] ?? (status >= 500 ? ['server_error', null] : ['invalid_request_error', null]);
            send(status, { error: { message, type, param: null, code } }, this.retryAfter(retryAfterMs));
        };
        if (req.method === 'GET' && req.url === '/v1/models') {
            return send(200, { object: 'list', data: (this.opts.models ?? ['fake']).map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })) });
        }
        const endpoint = req.method === 'POST' && req.url === '/v1/chat/completions' ? 'chat' : req.method === 'POST' && req.url === '/v1/responses' ? 'responses' : undefined;
        if (!endpoint)
            return send(404, { error: { message: 'not found' } });
        let body;
        try {
            body = JSON.parse(raw.toString('utf8') || '{}');
        }
        catch {
            return send(400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
        }
        const authorization = req.headers.authorization;
        this.requests.push({ body, hadAuthorization: Boolean(authorization) });
        const normalized = { endpoint, body, ...(endpoint === 'chat' ? normalizeChat(body) : normalizeResponses(body)) };
        this.calls.push({ ...normalized, authorization });
        this.faults.noteRequest(endpoint);
        const n = ++this.completions;
        await (0, fake_faults_1.sleepUnlessClosed)((this.opts.latencyMs ?? 0) + this.faults.latencyMs(), closed);
        if (this.opts.alwaysStatus)
            return send(this.opts.alwaysStatus, { error: { message: 'scripted failure', type: 'invalid_request_error' } });
        if (n <= (this.opts.rateLimitFirst ?? 0))
            return send(429, { error: { message: 'rate limited', type: 'rate_limit' } }, { 'retry-after': '0' });
        if (n <= (this.opts.rateLimitFirst ?? 0) + (this.opts.failFirst ?? 0))
            return send(500, { error: { message: 'boom', type: 'server_error' } });
        // A client that gave up while waiting takes no fault from the queue.
        if (res.destroyed)
            return;
        const decision = this.faults.decide();
        if (decision.kind === 'hang') {
            this.faults.noteHang();
            return closed;
        }
        if (decision.kind === 'status') {
            // A 401 that repeats the key it got, as some proxies do: providers must scrub it.
            const message = decision.status === 401 ? `Incorrect API key provided: ${authorization?.replace(/^Bearer /, '') ?? '(none)'}` : decision.reason;
            return fail(decision.status, message, decision.retryAfterMs);
        }
        let answer;
        let usage;
        if (this.opts.oracle) {
            answer = await this.opts.oracle(normalized);
            usage = await estimateUsage(normalized, answer);
        }
        else {
            const messages = endpoint === 'chat' ? body.messages : [...(normalized.instructions ? [{ role: 'system', content: normalized.instructions }] : []), ...(Array.isArray(body.input) ? body.input : [{ role: 'user', content: body.input }])];
            answer = await this.opts.answer({ model: body.model, messages, body });
            // The planner tests pin these numbers: 100 + request number in, one token per character out.
            usage = endpoint === 'chat' ? { inputTokens: 100 + n, outputTokens: answer.length } : await estimateUsage(normalized, answer);
        }
        if (decision.malformed)
            answer = (0, fake_faults_1.malformAnswer)(answer);
        if (res.destroyed)
            return;
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
    retryAfter(ms) {
        if (ms === undefined)
            return {};
        const style = this.opts.retryAfterHeaders ?? 'both';
        const seconds = String(Math.ceil(ms / 1000));
        if (style === 'none')
            return {};
        if (style === 'ms')
            return { 'retry-after-ms': String(ms) };
        if (style === 'seconds')
            return { 'retry-after': seconds };
        if (style === 'http-date')
            return { 'retry-after': new Date(Date.now() + ms).toUTCString() };
        return { 'retry-after-ms': String(ms), 'retry-after': seconds };
    }
}
exports.FakeOpenAIServer = FakeOpenAIServer;
//# sourceMappingURL=fake-openai-server.js.map