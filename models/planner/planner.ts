// The reasoning LLM that writes a <plan>/<answer> program for a question, as the method's
// planner does. It calls its model through the provider layer (models/llm), like the
// verifier and the judges: the same limits, retries, circuit breaker, cost accounting and
// metrics.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { sha256Hex } from '../../core/ids';
import { llmNodeConfig, maxOutputTokensSchema, renamedFields } from '../llm/llm-node-config';
import type { LlmProvider, TokenUsage } from '../llm/provider';

export { stripThinking } from '../llm/openai-chat';

export const plannerConfig = llmNodeConfig({
  // Any OpenAI-compatible server (vLLM, Ollama) serving Qwen3-8B or VALOR-8B; any other kind works too.
  provider: { kind: 'openai-compatible', model: 'Qwen/Qwen3-8B' },
})
  .extend({
    maxOutputTokens: maxOutputTokensSchema.default(2048),
    // The method's sampling settings for the reasoning LLM; null sends none.
    temperature: z.number().min(0).max(2).nullable().default(0.7),
    topP: z.number().min(0).max(1).nullable().default(0.8),
    /** Sent as `top_k`, which vLLM and Ollama read; the Responses API has none (set null). */
    topK: z.number().int().min(1).nullable().default(20),
    promptFile: z.string().optional(),
    // The planner's own client settings before it used the provider layer.
    ...renamedFields(
      { baseUrl: 'provider.baseURL', maxTokens: 'maxOutputTokens', model: 'provider.model', apiKeyEnv: 'provider.apiKeyEnv', timeoutMs: 'limits.timeoutMs' },
      'planner.',
    ),
  })
  .superRefine((c, ctx) => {
    if (c.provider.kind === 'openai-responses' && c.topK !== null) {
      ctx.addIssue({ code: 'custom', path: ['topK'], message: 'the Responses API has no top_k: set planner.topK to null (or use kind openai-compatible)' });
    }
  });
export type PlannerConfig = z.infer<typeof plannerConfig>;
/** What the planner itself reads; the provider part of the config builds its LlmProvider. */
export type PlannerSettings = Pick<PlannerConfig, 'maxOutputTokens' | 'temperature' | 'topP' | 'topK' | 'promptFile'>;

export const DEFAULT_PLAN_PROMPT = path.join(__dirname, 'prompts', 'plan-v1.md');

function promptPath(file?: string): string {
  if (file) return file;
  // Compiled code runs from dist/, where the prompt file is not copied: use the source copy.
  for (const p of [DEFAULT_PLAN_PROMPT, path.join(__dirname, '..', '..', '..', 'models', 'planner', 'prompts', 'plan-v1.md')]) {
    if (fs.existsSync(p)) return p;
  }
  return DEFAULT_PLAN_PROMPT;
}

export interface PlanResult {
  text: string;
  /** The model that answered, as the API reports it. */
  model: string;
  promptHash: string;
  usage: TokenUsage;
  /** Dollars, when the provider does cost accounting (ResilientProvider). */
  costUsd?: number;
}

/**
 * Asks the reasoning LLM for a <plan>/<answer> program. `llm` is normally the node's
 * ResilientProvider (nodeProvider()); its errors pass through as they are: ProviderError
 * (retriable for rate limits, 5xx, timeouts, lost connections and aborts) or
 * ProviderRetriesExhausted. An answer with no text (Qwen3 spent max_tokens thinking) is a
 * non-retriable client error of the provider.
 */
export class Planner {
  readonly prompt: string;
  readonly promptHash: string;

  constructor(
    private readonly llm: LlmProvider,
    private readonly settings: PlannerSettings,
  ) {
    this.prompt = fs.readFileSync(promptPath(settings.promptFile), 'utf8');
    this.promptHash = sha256Hex(this.prompt).slice(0, 16);
  }

  get provider(): string {
    return this.llm.kind;
  }

  async plan(question: string, signal?: AbortSignal): Promise<PlanResult> {
    const { temperature, topP, topK } = this.settings;
    const res = await this.llm.complete({
      instructions: this.prompt,
      parts: [{ type: 'text', text: question }],
      maxOutputTokens: this.settings.maxOutputTokens,
      sampling: {
        ...(temperature !== null ? { temperature } : {}),
        ...(topP !== null ? { topP } : {}),
        ...(topK !== null ? { topK } : {}),
      },
      signal,
    });
    const cost = (res as { costUsd?: unknown }).costUsd;
    return {
      text: res.text,
      model: res.model || this.llm.model,
      promptHash: this.promptHash,
      usage: res.usage,
      ...(typeof cost === 'number' ? { costUsd: cost } : {}),
    };
  }
}
