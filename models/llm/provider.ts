// One interface over every model API the nodes call (planner, verifier, judges): OpenAI Responses,
// OpenAI Chat Completions (and any OpenAI-compatible server by base URL), and Gemini on
// Vertex AI. A provider makes exactly one HTTP call per `complete` and classifies what went
// wrong; retries, rate limits, timeouts and the circuit breaker live in ResilientProvider,
// so every provider gets the same behaviour under load.
import { ValorError } from '../../core/errors';

export type ContentPart =
  | { type: 'text'; text: string }
  /** An image sent inline as a data URL (the method sends PNG). */
  | { type: 'image'; data: Buffer; mediaType: 'image/png' | 'image/jpeg' | 'image/webp'; width: number; height: number };

export interface CompletionRequest {
  /** System / developer instructions. */
  instructions?: string;
  /** The user turn: text and images in order. */
  parts: ContentPart[];
  /** A repair turn: the model's previous answer and what was wrong with it. */
  repair?: { previousAnswer: string; problem: string };
  /** Structured output: a strict JSON schema the answer must follow. */
  output?: { name: string; schema: Record<string, unknown> };
  maxOutputTokens?: number;
  /** Reasoning effort of this request, over the provider's (e.g. per verifier stage). */
  reasoningEffort?: 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';
  /**
   * Groups requests that share a long prefix (OpenAI's `prompt_cache_key`; the verifier
   * uses the image hash), so they land where that prefix is cached.
   */
  cacheKey?: string;
  /**
   * Sampling settings of this request (the planner's: the method samples its reasoning LLM
   * at temperature 0.7, top_p 0.8, top_k 20). Unset fields are not sent. A provider whose
   * API lacks a setting refuses the request as a client error rather than drop it.
   */
  sampling?: Sampling;
  /** Aborted on per-call timeout or shutdown; the provider must stop waiting. */
  signal?: AbortSignal;
}

export interface Sampling {
  temperature?: number;
  topP?: number;
  /** Not in OpenAI's schemas: sent as the body field `top_k` that vLLM and Ollama read; Gemini's topK. */
  topK?: number;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** Of inputTokens, those read from the provider's prompt cache (billed at the cached rate). */
  cachedInputTokens?: number;
}

/** How a call was billed: list price, flex (Batch rates, synchronous) or the Batch API. */
export type BilledTier = 'default' | 'flex' | 'batch';

export interface CompletionResult {
  /** The answer text (for structured output: the JSON text, unparsed). */
  text: string;
  usage: TokenUsage;
  /** The model that answered, as the API reports it. */
  model: string;
  /** The tier the call was billed at (default when the API does not say). */
  tier?: BilledTier;
}

export interface LlmProvider {
  /** Provider kind, e.g. 'openai-responses', 'openai-chat', 'gemini-vertex'. */
  readonly kind: string;
  /** The model asked for (the key of the price table and of the verdict cache). */
  readonly model: string;
  /** A per-call deadline the provider needs at least (flex calls can take minutes). */
  readonly minTimeoutMs?: number;
  complete(req: CompletionRequest): Promise<CompletionResult>;
}

export type ProviderErrorKind = 'rate-limit' | 'server' | 'timeout' | 'network' | 'client' | 'auth' | 'aborted';

/**
 * A failed provider call, classified. Rate limits, 5xx, timeouts and network errors are
 * retriable; client errors (400, 404, 422) and auth errors are not. The message never
 * contains the API key or the request body.
 */
export class ProviderError extends ValorError {
  constructor(
    message: string,
    readonly kind: ProviderErrorKind,
    readonly opts: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, {
      retriable: kind === 'rate-limit' || kind === 'server' || kind === 'timeout' || kind === 'network' || kind === 'aborted',
      cause: opts.cause,
    });
  }
  get status(): number | undefined {
    return this.opts.status;
  }
  get retryAfterMs(): number | undefined {
    return this.opts.retryAfterMs;
  }
}

/** An image part as the data URL the OpenAI APIs take inline. */
export function imageDataUrl(part: Extract<ContentPart, { type: 'image' }>): string {
  return `data:${part.mediaType};base64,${part.data.toString('base64')}`;
}

/** The user turn that follows a bad answer: the same wording for every provider. */
export function repairMessage(problem: string): string {
  return `Your previous answer could not be used: ${problem}\nAnswer the same request again with corrected JSON only, following the required format exactly.`;
}
