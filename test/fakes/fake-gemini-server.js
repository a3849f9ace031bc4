"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.FakeGeminiServer = void 0;
// A real HTTP server on 127.0.0.1 speaking the Vertex AI generateContent endpoint that
// @google/genai calls with `vertexai: true` and a base URL:
//   POST {baseUrl}/{v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent
// Errors come in Google's shape {error: {code, message, status, details?}}.
const local_http_1 = require("./local-http");
const fake_faults_1 = require("./fake-faults");
const fake_openai_server_1 = require("./fake-openai-server");
const PATH = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):generateContent$/;
const GOOGLE_STATUS = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    429: 'RESOURCE_EXHAUSTED',
    500: 'INTERNAL',
    503: 'UNAVAILABLE',
    504: 'DEADLINE_EXCEEDED',
};
class FakeGeminiServer {
    opts;
    calls = [];
    faults;
    http = new local_http_1.LocalHttpServer();
    n = 0;
    constructor(opts) {
        this.opts = opts;
        this.faults = opts.faults instanceof fake_faults_1.FaultInjector ? opts.faults : new fake_faults_1.FaultInjector(opts.faults);
    }
    /** The base URL to give the SDK (httpOptions.baseUrl); it appends version and path. */
    async start() {
        const port = await this.http.listen((req, res) => {
            this.handle(req, res).catch((err) => {
                if (res.headersSent || res.destroyed)
                    return void res.destroy();
                const status = err instanceof fake_openai_server_1.FakeRequestError ? 400 : 500;
                this.faults.noteStatus(status);
                res.writeHead(status, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ error: { code: status, message: `fake server: ${String(err?.message ?? err)}`, status: GOOGLE_STATUS[status] } }));
            });
        });
        return `http://127.0.0.1:${port}`;
    }
    close() {
        return this.http.close();
    }
    async handle(req, res) {
        const closed = new Promise((r) => res.once('close', () => r()));
        const raw = await (0, local_http_1.readBody)(req);
        const send = (0, local_http_1.jsonSender)(res, (status) => this.faults.noteStatus(status), 'application/json; charset=UTF-8');
        const fail = (status, message, retryAfterMs) => {
            const hint = this.opts.retryHint ?? 'retry-info';
            const details = retryAfterMs !== undefined && (hint === 'retry-info' || hint === 'both')
                ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterMs / 1000}s` }]
                : undefined;
            const headers = retryAfterMs !== undefined && (hint === 'header' || hint === 'both') ? { 'retry-after': String(Math.ceil(retryAfterMs / 1000)) } : {};
            send(status, { error: { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN', ...(details ? { details } : {}) } }, headers);
        };
        const m = req.method === 'POST' ? PATH.exec((req.url ?? '').split('?')[0]) : null;
        if (!m)
            return fail(404, `fake gemini: no route for ${req.method} ${req.url}`);
        const [, apiVersion, project, location, model] = m;
        let body;
        try {
            body = JSON.parse(raw.toString('utf8') || '{}');
        }
        catch {
            return fail(400, 'Invalid JSON payload received.');
        }
        if (!Array.isArray(body.contents) || body.contents.length === 0)
            return fail(400, 'contents is not specified');
        const texts = [];
        const images = [];
        for (const c of body.contents) {
            for (const p of Array.isArray(c?.parts) ? c.parts : []) {
                if (typeof p?.text === 'string')
                    texts.push(p.text);
                if (p?.inlineData?.data)
                    images.push(Buffer.from(String(p.inlineData.data), 'base64'));
            }
        }
        const sys = (body.systemInstruction?.parts ?? []).map((p) => p.text).filter((t) => typeof t === 'string');
        const authorization = req.headers.authorization;
        const call = {
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
        await (0, fake_faults_1.sleepUnlessClosed)(this.faults.latencyMs(), closed);
        // A client that gave up while waiting takes no fault from the queue.
        if (res.destroyed)
            return;
        const decision = this.faults.decide();
        if (decision.kind === 'hang') {
            this.faults.noteHang();
            return closed;
        }
        if (decision.kind === 'status') {
            const message = decision.status === 429 ? 'Resource exhausted. Please try again later.' : decision.status === 503 ? 'The service is currently unavailable.' : decision.reason;
            return fail(decision.status, message, decision.retryAfterMs);
        }
        let answer = await this.opts.oracle(call);
        const usage = await (0, fake_openai_server_1.estimateUsage)(call, answer);
        if (decision.malformed)
            answer = (0, fake_faults_1.malformAnswer)(answer);
        if (res.destroyed)
            return;
        this.faults.noteServed('gemini', decision.malformed);
        const thoughts = this.opts.thoughtsTokens;
        send(200, {
            candidates: [{ content: { role: 'model', parts: [{ text: answer }] }, finishReason: 'STOP', index: 0 }],
            usageMetadata: {
                promptTokenCount: usage.inputTokens,
                candidatesTokenCount: usage.outputTokens,
                ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
                totalTokenCount: usage.inputTokens + usage.outputTokens + (thoughts ?? 0),
            },
            modelVersion: this.opts.modelVersion ?? decodeURIComponent(model),
            responseId: `fake-${n}`,
        });
    }
}
exports.FakeGeminiServer = FakeGeminiServer;
//# sourceMappingURL=fake-gemini-server.js.map