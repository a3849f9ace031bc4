"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.GeminiVertexProvider = void 0;
// LlmProvider for Gemini on Vertex AI through @google/genai (the SDK Google supports for
// Vertex; @google-cloud/vertexai is deprecated). Production auth is Application Default
// Credentials; a static access token or a key file can be given instead.
const node_module_1 = require("node:module");
const genai_1 = require("@google/genai");
const provider_1 = require("./provider");
const provider_errors_1 = require("./provider-errors");
/**
 * An OAuth2Client that sends a fixed bearer token. google-auth-library is a dependency of
 * @google/genai, not of this project, so it is loaded from where genai resolves it: the
 * same copy genai's GoogleAuth uses.
 */
function staticTokenClient(accessToken) {
    const genaiRequire = (0, node_module_1.createRequire)(require.resolve('@google/genai'));
    const { OAuth2Client } = genaiRequire('google-auth-library');
    const client = new OAuth2Client();
    // No expiry_date: the library treats the token as valid and never tries to refresh it.
    client.setCredentials({ access_token: accessToken });
    return client;
}
class GeminiVertexProvider {
    kind = 'gemini-vertex';
    model;
    #ai;
    #secrets;
    #opts;
    constructor(opts) {
        this.model = opts.model;
        this.#opts = opts;
        this.#secrets = opts.accessToken ? [opts.accessToken] : [];
        const googleAuthOptions = opts.accessToken
            ? { authClient: staticTokenClient(opts.accessToken) }
            : opts.keyFile
                ? { keyFilename: opts.keyFile }
                : undefined;
        this.#ai = new genai_1.GoogleGenAI({
            vertexai: true,
            project: opts.project,
            location: opts.location,
            ...(opts.apiVersion ? { apiVersion: opts.apiVersion } : {}),
            ...(googleAuthOptions ? { googleAuthOptions } : {}),
            // No retryOptions: genai then makes exactly one attempt.
            // No timeout either: the deadline is ours (linkSignal), the same for every provider.
            httpOptions: { ...(opts.baseURL ? { baseUrl: opts.baseURL } : {}) },
        });
    }
    buildContents(req) {
        const parts = req.parts.map((p) => (p.type === 'text' ? { text: p.text } : { inlineData: { mimeType: p.mediaType, data: p.data.toString('base64') } }));
        const contents = [{ role: 'user', parts }];
        if (req.repair) {
            contents.push({ role: 'model', parts: [{ text: req.repair.previousAnswer }] });
            contents.push({ role: 'user', parts: [{ text: (0, provider_1.repairMessage)(req.repair.problem) }] });
        }
        return contents;
    }
    async complete(req) {
        const link = (0, provider_errors_1.linkSignal)(req.signal, this.#opts.timeoutMs);
        // genai's ApiError keeps only status and body; the headers (Retry-After) are caught here.
        let errorHeaders;
        const maxOutputTokens = req.maxOutputTokens ?? this.#opts.maxOutputTokens;
        const config = {
            ...(req.instructions ? { systemInstruction: req.instructions } : {}),
            ...(req.output ? { responseMimeType: 'application/json', responseJsonSchema: req.output.schema } : {}),
            ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
            ...(this.#opts.thinkingBudget !== undefined ? { thinkingConfig: { thinkingBudget: this.#opts.thinkingBudget } } : {}),
            // Continuation would resend the request on its own: one call per complete().
            automaticContinuation: false,
            abortSignal: link.signal,
            httpOptions: {
                fetch: async (input, init) => {
                    const res = await fetch(input, init);
                    if (!res.ok)
                        errorHeaders = res.headers;
                    return res;
                },
            },
        };
        let res;
        try {
            res = await this.#ai.models.generateContent({ model: this.model, contents: this.buildContents(req), config });
        }
        catch (err) {
            throw (0, provider_errors_1.toProviderError)(err, {
                provider: this.kind,
                model: this.model,
                signal: link.signal,
                secrets: this.#secrets,
                baseURL: this.#opts.baseURL,
                responseHeaders: errorHeaders,
            });
        }
        finally {
            link.dispose();
        }
        const candidate = res.candidates?.[0];
        // Read the parts directly: the SDK's `text` getter warns on the console about thought parts.
        const text = (candidate?.content?.parts ?? [])
            .filter((p) => typeof p.text === 'string' && !p.thought)
            .map((p) => p.text)
            .join('');
        if (!text) {
            const why = res.promptFeedback?.blockReason ? `prompt blocked (${res.promptFeedback.blockReason})` : `finishReason=${candidate?.finishReason ?? 'none'}`;
            throw new provider_1.ProviderError(`${this.kind} ${this.model}: answer has no text: ${why}`, 'client');
        }
        const u = res.usageMetadata;
        return {
            text,
            // Thinking tokens are billed as output.
            usage: { inputTokens: u?.promptTokenCount ?? 0, outputTokens: (u?.candidatesTokenCount ?? 0) + (u?.thoughtsTokenCount ?? 0) },
            model: res.modelVersion || this.model,
        };
    }
}
exports.GeminiVertexProvider = GeminiVertexProvider;
//# sourceMappingURL=gemini-vertex.js.map