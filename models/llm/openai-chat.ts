// LlmProvider over Chat Completions: OpenAI itself, or any OpenAI-compatible server (vLLM,
// Ollama) by base URL. Compatible servers differ in what they accept, so the structured
// output mode and the name of the token limit field are settings.
import OpenAI from 'openai';
import type { ChatCompletionContentPart, ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ReasoningEffort } from 'openai/resources/shared';
import { CompletionRequest, CompletionResult, imageDataUrl, LlmProvider, ProviderError, repairMessage } from './provider';
import { openaiClient } from './openai-client';
import { callWithDeadline } from './provider-errors';

/**
 * json_schema: strict schema enforced by the server (OpenAI, vLLM, recent Ollama).
 * json_object: JSON mode only; the schema goes into the prompt. none: prompt only.
 */
export type ChatResponseFormat = 'json_schema' | 'json_object' | 'none';
export type ChatMaxTokensField = 'max_completion_tokens' | 'max_tokens';

/** The placeholder key sent when a compatible server needs none (the SDK refuses an empty key). */
export const NO_API_KEY = 'EMPTY';

export interface OpenAIChatOptions {
  model: string;
  /** Absent for servers without auth: NO_API_KEY goes on the wire. */
  apiKey?: string;
  baseURL?: string;
  responseFormat?: ChatResponseFormat;
  maxTokensField?: ChatMaxTokensField;
  /** Sent as `reasoning_effort` only when set. */
  reasoningEffort?: Exclude<ReasoningEffort, null>;
  /** Sent only when set (some compatible servers reject unknown fields in image parts). */
  imageDetail?: 'low' | 'high' | 'auto';
  temperature?: number;
  maxOutputTokens?: number;
  timeoutMs?: number;
  /** 'openai-chat' or 'openai-compatible'. */
  kind?: string;
}

/**
 * The answer without Qwen3's thinking, which appears in the content when the server runs
 * without a reasoning parser: drafts in it (of a program, of a verdict) are not the answer.
 * Some chat templates open <think> in the prompt, so only </think> shows up.
 */
export function stripThinking(content: string): string {
  const end = content.indexOf('</think>');
  if (end >= 0) return content.slice(end + '</think>'.length).trim();
  // Cut off while still thinking (max_tokens): there is no answer yet.
  if (content.trimStart().startsWith('<think>')) return '';
  return content.trim();
}

export class OpenAIChatProvider implements LlmProvider {
  readonly kind: string;
  readonly model: string;
  readonly #client: OpenAI;
  readonly #apiKey: string;
  readonly #opts: OpenAIChatOptions;

  constructor(opts: OpenAIChatOptions) {
    this.kind = opts.kind ?? 'openai-chat';
    this.model = opts.model;
    this.#opts = opts;
    this.#apiKey = opts.apiKey || NO_API_KEY;
    this.#client = openaiClient(this.#apiKey, opts.baseURL, opts.timeoutMs);
  }

  buildBody(req: CompletionRequest): ChatCompletionCreateParamsNonStreaming {
    const format = this.#opts.responseFormat ?? 'json_schema';
    const detail = this.#opts.imageDetail;
    const content: ChatCompletionContentPart[] = req.parts.map((p) =>
      p.type === 'text' ? { type: 'text', text: p.text } : { type: 'image_url', image_url: { url: imageDataUrl(p), ...(detail ? { detail } : {}) } },
    );
    if (req.output && format !== 'json_schema') {
      // Without server-side enforcement the model only knows the shape from the prompt.
      content.push({ type: 'text', text: `Answer with one JSON value that follows this JSON schema:\n${JSON.stringify(req.output.schema)}` });
    }
    const messages: ChatCompletionMessageParam[] = [];
    if (req.instructions) messages.push({ role: 'system', content: req.instructions });
    // A text-only turn goes as a plain string, which every compatible server and chat template takes.
    const only = content.length === 1 ? content[0]! : undefined;
    messages.push({ role: 'user', content: only?.type === 'text' ? only.text : content });
    if (req.repair) {
      messages.push({ role: 'assistant', content: req.repair.previousAnswer });
      messages.push({ role: 'user', content: repairMessage(req.repair.problem) });
    }
    const maxTokens = req.maxOutputTokens ?? this.#opts.maxOutputTokens;
    const body: ChatCompletionCreateParamsNonStreaming = { model: this.model, messages };
    if (maxTokens !== undefined) body[this.#opts.maxTokensField ?? 'max_completion_tokens'] = maxTokens;
    const effort = req.reasoningEffort ?? this.#opts.reasoningEffort;
    if (effort) body.reasoning_effort = effort;
    // OpenAI's own endpoint groups prompts by this key; compatible servers may refuse unknown fields.
    if (req.cacheKey && this.kind === 'openai-chat') body.prompt_cache_key = req.cacheKey;
    const temperature = req.sampling?.temperature ?? this.#opts.temperature;
    if (temperature !== undefined) body.temperature = temperature;
    if (req.sampling?.topP !== undefined) body.top_p = req.sampling.topP;
    // top_k is not in OpenAI's schema; vLLM and Ollama read it from the body.
    if (req.sampling?.topK !== undefined) (body as unknown as Record<string, unknown>).top_k = req.sampling.topK;
    if (req.output && format === 'json_schema') {
      body.response_format = { type: 'json_schema', json_schema: { name: req.output.name, schema: req.output.schema, strict: true } };
    } else if (req.output && format === 'json_object') {
      body.response_format = { type: 'json_object' };
    }
    return body;
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const body = this.buildBody(req);
    const res = await callWithDeadline(
      req.signal,
      this.#opts.timeoutMs,
      () => ({ provider: this.kind, model: this.model, secrets: [this.#apiKey], baseURL: this.#opts.baseURL }),
      (signal) => this.#client.chat.completions.create(body, { signal }),
    );
    const choice = res.choices?.[0];
    // Qwen3 on a server without a reasoning parser puts its thinking in the content.
    const text = stripThinking(choice?.message?.content ?? '');
    if (!text) {
      const why = choice?.message?.refusal ? 'refused' : `finish_reason=${choice?.finish_reason ?? 'none'}`;
      throw new ProviderError(`${this.kind} ${this.model}: answer has no text: ${why}`, 'client');
    }
    return {
      text,
      usage: {
        inputTokens: res.usage?.prompt_tokens ?? 0,
        outputTokens: res.usage?.completion_tokens ?? 0,
        // OpenAI and vLLM (with prefix caching) report this.
        cachedInputTokens: res.usage?.prompt_tokens_details?.cached_tokens ?? 0,
      },
      model: res.model || this.model,
    };
  }
}
