// LlmProvider for Gemini on Vertex AI through @google/genai (the SDK Google supports for
// Vertex; @google-cloud/vertexai is deprecated). Production auth is Application Default
// Credentials; a static access token or a key file can be given instead.
import { createRequire } from 'node:module';
import { GoogleGenAI } from '@google/genai';
import type { Content, GenerateContentConfig, GenerateContentResponse, GoogleGenAIOptions, Part } from '@google/genai';
import { CompletionRequest, CompletionResult, LlmProvider, ProviderError, repairMessage } from './provider';
import { callWithDeadline, HeadersLike } from './provider-errors';

export interface GeminiVertexOptions {
  model: string;
  project: string;
  location: string;
  /** Another endpoint (a test server, a private endpoint); the SDK still adds /{apiVersion}/projects/... */
  baseURL?: string;
  /** Vertex API version; the SDK's default is v1beta1. */
  apiVersion?: string;
  /** An OAuth access token used as is (tests, short jobs). Otherwise ADC or keyFile. */
  accessToken?: string;
  /** A service-account key file instead of ADC. */
  keyFile?: string;
  maxOutputTokens?: number;
  /** Gemini 2.5 thinking budget in tokens (0 turns thinking off on Flash). */
  thinkingBudget?: number;
  /** A per-call deadline of our own, a backstop behind the caller's signal. */
  timeoutMs?: number;
}

type AuthClient = NonNullable<NonNullable<GoogleGenAIOptions['googleAuthOptions']>['authClient']>;

/**
 * An OAuth2Client that sends a fixed bearer token. google-auth-library is a dependency of
 * @google/genai, not of this project, so it is loaded from where genai resolves it: the
 * same copy genai's GoogleAuth uses.
 */
function staticTokenClient(accessToken: string): AuthClient {
  const genaiRequire = createRequire(require.resolve('@google/genai'));
  const { OAuth2Client } = genaiRequire('google-auth-library') as {
    OAuth2Client: new () => AuthClient & { setCredentials(c: { access_token: string }): void };
  };
  const client = new OAuth2Client();
  // No expiry_date: the library treats the token as valid and never tries to refresh it.
  client.setCredentials({ access_token: accessToken });
  return client;
}

export class GeminiVertexProvider implements LlmProvider {
  readonly kind = 'gemini-vertex';
  readonly model: string;
  readonly #ai: GoogleGenAI;
  readonly #secrets: string[];
  readonly #opts: GeminiVertexOptions;

  constructor(opts: GeminiVertexOptions) {
    this.model = opts.model;
    this.#opts = opts;
    this.#secrets = opts.accessToken ? [opts.accessToken] : [];
    const googleAuthOptions: GoogleGenAIOptions['googleAuthOptions'] = opts.accessToken
      ? { authClient: staticTokenClient(opts.accessToken) }
      : opts.keyFile
        ? { keyFilename: opts.keyFile }
        : undefined;
    this.#ai = new GoogleGenAI({
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

  buildContents(req: CompletionRequest): Content[] {
    const parts: Part[] = req.parts.map((p) =>
      p.type === 'text' ? { text: p.text } : { inlineData: { mimeType: p.mediaType, data: p.data.toString('base64') } },
    );
    const contents: Content[] = [{ role: 'user', parts }];
    if (req.repair) {
      contents.push({ role: 'model', parts: [{ text: req.repair.previousAnswer }] });
      contents.push({ role: 'user', parts: [{ text: repairMessage(req.repair.problem) }] });
    }
    return contents;
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    // genai's ApiError keeps only status and body; the headers (Retry-After) are caught here.
    let errorHeaders: HeadersLike | undefined;
    const maxOutputTokens = req.maxOutputTokens ?? this.#opts.maxOutputTokens;
    const config = (abortSignal: AbortSignal | undefined): GenerateContentConfig => ({
      ...(req.instructions ? { systemInstruction: req.instructions } : {}),
      ...(req.output ? { responseMimeType: 'application/json', responseJsonSchema: req.output.schema } : {}),
      ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
      ...(req.sampling?.temperature !== undefined ? { temperature: req.sampling.temperature } : {}),
      ...(req.sampling?.topP !== undefined ? { topP: req.sampling.topP } : {}),
      ...(req.sampling?.topK !== undefined ? { topK: req.sampling.topK } : {}),
      ...(this.#opts.thinkingBudget !== undefined ? { thinkingConfig: { thinkingBudget: this.#opts.thinkingBudget } } : {}),
      // Continuation would resend the request on its own: one call per complete().
      automaticContinuation: false,
      abortSignal,
      httpOptions: {
        fetch: async (input, init) => {
          const res = await fetch(input, init);
          if (!res.ok) errorHeaders = res.headers;
          return res;
        },
      },
    });
    const res: GenerateContentResponse = await callWithDeadline(
      req.signal,
      this.#opts.timeoutMs,
      () => ({ provider: this.kind, model: this.model, secrets: this.#secrets, baseURL: this.#opts.baseURL, responseHeaders: errorHeaders }),
      (signal) => this.#ai.models.generateContent({ model: this.model, contents: this.buildContents(req), config: config(signal) }),
    );
    const candidate = res.candidates?.[0];
    // Read the parts directly: the SDK's `text` getter warns on the console about thought parts.
    const text = (candidate?.content?.parts ?? [])
      .filter((p) => typeof p.text === 'string' && !p.thought)
      .map((p) => p.text)
      .join('');
    if (!text) {
      const why = res.promptFeedback?.blockReason ? `prompt blocked (${res.promptFeedback.blockReason})` : `finishReason=${candidate?.finishReason ?? 'none'}`;
      throw new ProviderError(`${this.kind} ${this.model}: answer has no text: ${why}`, 'client');
    }
    const u = res.usageMetadata;
    return {
      text,
      // Thinking tokens are billed as output.
      usage: {
        inputTokens: u?.promptTokenCount ?? 0,
        outputTokens: (u?.candidatesTokenCount ?? 0) + (u?.thoughtsTokenCount ?? 0),
        // Implicit context caching (Gemini 2.5): part of promptTokenCount, billed at the cached rate.
        cachedInputTokens: u?.cachedContentTokenCount ?? 0,
      },
      model: res.modelVersion || this.model,
    };
  }
}
