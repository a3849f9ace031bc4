// LlmProvider over the OpenAI Responses API (the API OpenAI recommends for new work and
// the one that takes reasoning effort and strict JSON schemas together). One HTTP call per
// complete(): the SDK's retries are off, ResilientProvider retries for every provider.
import OpenAI from 'openai';
import type { ReasoningEffort } from 'openai/resources/shared';
import type { ResponseCreateParamsNonStreaming, ResponseInputContent, ResponseInputItem } from 'openai/resources/responses/responses';
import { CompletionRequest, CompletionResult, imageDataUrl, LlmProvider, ProviderError, repairMessage } from './provider';
import { openaiClient } from './openai-client';
import { callWithDeadline } from './provider-errors';
import { billedTier, withFlexFallback } from './flex-tier';

export type ResponsesImageDetail = 'low' | 'high' | 'auto' | 'original';

export interface OpenAIResponsesOptions {
  model: string;
  apiKey: string;
  /** Another endpoint speaking the Responses API (a proxy, a test server). */
  baseURL?: string;
  /** null sends no `reasoning` (for models without reasoning). */
  reasoningEffort?: Exclude<ReasoningEffort, null> | null;
  /** Used when the request sets none. */
  maxOutputTokens?: number;
  imageDetail?: ResponsesImageDetail;
  /** A per-call deadline of our own, a backstop behind the caller's signal. */
  timeoutMs?: number;
  /** flex: Batch rates, synchronous; a "resource unavailable" 429 falls back to the default tier. */
  serviceTier?: 'default' | 'flex';
  flexFallbackAfterMs?: number;
  flexTimeoutMs?: number;
  /** Reported as `kind` (the price table and logs key on it). */
  kind?: string;
}

export class OpenAIResponsesProvider implements LlmProvider {
  readonly kind: string;
  readonly model: string;
  // ES private fields: the key never reaches JSON.stringify, util.inspect or a logged object.
  readonly #client: OpenAI;
  readonly #apiKey: string;
  readonly #opts: OpenAIResponsesOptions;

  constructor(opts: OpenAIResponsesOptions) {
    this.kind = opts.kind ?? 'openai-responses';
    this.model = opts.model;
    this.#opts = opts;
    this.#apiKey = opts.apiKey;
    this.#client = openaiClient(opts.apiKey, opts.baseURL, opts.timeoutMs);
  }

  /** The request body complete() sends (exported for tests and debugging; holds no key). */
  buildBody(req: CompletionRequest): ResponseCreateParamsNonStreaming {
    const detail = this.#opts.imageDetail ?? 'auto';
    const content: ResponseInputContent[] = req.parts.map((p) =>
      p.type === 'text' ? { type: 'input_text', text: p.text } : { type: 'input_image', image_url: imageDataUrl(p), detail },
    );
    const input: ResponseInputItem[] = [{ role: 'user', content }];
    if (req.repair) {
      input.push({ role: 'assistant', content: req.repair.previousAnswer });
      input.push({ role: 'user', content: [{ type: 'input_text', text: repairMessage(req.repair.problem) }] });
    }
    if (req.sampling?.topK !== undefined) {
      throw new ProviderError(
        `${this.kind} ${this.model}: the Responses API has no top_k; leave topK unset (null) or use openai-chat / openai-compatible`,
        'client',
      );
    }
    // A model without reasoning (null) gets none, whatever a request asks.
    const configured = this.#opts.reasoningEffort === undefined ? 'medium' : this.#opts.reasoningEffort;
    const effort = configured === null ? null : (req.reasoningEffort ?? configured);
    const maxOutputTokens = req.maxOutputTokens ?? this.#opts.maxOutputTokens;
    return {
      model: this.model,
      ...(req.instructions ? { instructions: req.instructions } : {}),
      input,
      ...(req.output ? { text: { format: { type: 'json_schema', name: req.output.name, schema: req.output.schema, strict: true } } } : {}),
      ...(effort !== null ? { reasoning: { effort } } : {}),
      ...(maxOutputTokens !== undefined ? { max_output_tokens: maxOutputTokens } : {}),
      ...(req.sampling?.temperature !== undefined ? { temperature: req.sampling.temperature } : {}),
      ...(req.sampling?.topP !== undefined ? { top_p: req.sampling.topP } : {}),
      ...(req.cacheKey ? { prompt_cache_key: req.cacheKey } : {}),
      ...(this.#opts.serviceTier === 'flex' ? { service_tier: 'flex' as const } : {}),
      // Nothing to look up later; do not keep images at OpenAI.
      store: false,
    };
  }

  /** Flex calls may take minutes: ResilientProvider's per-call deadline is raised to this. */
  get minTimeoutMs(): number | undefined {
    return this.#opts.serviceTier === 'flex' ? (this.#opts.flexTimeoutMs ?? 900_000) : undefined;
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const asked = this.buildBody(req);
    const { service_tier: _flex, ...onDefaultTier } = asked;
    const res = await withFlexFallback(this.#opts.serviceTier ?? 'default', this.#opts.flexFallbackAfterMs ?? 1_000, req.signal, (tier) => {
      const body = tier === 'flex' ? asked : onDefaultTier;
      return callWithDeadline(
        req.signal,
        this.minTimeoutMs ?? this.#opts.timeoutMs,
        () => ({ provider: this.kind, model: this.model, secrets: [this.#apiKey], baseURL: this.#opts.baseURL }),
        (signal) => this.#client.responses.create(body, { signal }),
      );
    });
    const text = res.output_text ?? '';
    if (!text) {
      // Usually the whole token budget went on reasoning, or a refusal; the same request
      // would do the same again, so this is not worth a retry.
      const refused = res.output?.some((o) => o.type === 'message' && o.content.some((c) => c.type === 'refusal'));
      const why = refused ? 'refused' : `status=${res.status ?? 'unknown'}${res.incomplete_details?.reason ? ` (${res.incomplete_details.reason})` : ''}`;
      throw new ProviderError(`${this.kind} ${this.model}: answer has no text: ${why}`, 'client');
    }
    return {
      text,
      usage: {
        inputTokens: res.usage?.input_tokens ?? 0,
        outputTokens: res.usage?.output_tokens ?? 0,
        cachedInputTokens: res.usage?.input_tokens_details?.cached_tokens ?? 0,
      },
      model: res.model || this.model,
      tier: billedTier(res.service_tier),
    };
  }
}
