import * as fs from 'node:fs';
import * as path from 'node:path';
import OpenAI from 'openai';
import { z } from 'zod';
import { ProcessingError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';

export const plannerConfig = z
  .object({
    /** Any OpenAI-compatible server: vLLM or Ollama serving Qwen3-8B or VALOR-8B. */
    baseUrl: z.string().url(),
    model: z.string().min(1).default('Qwen/Qwen3-8B'),
    /** Name of the environment variable holding the API key (never the key itself). */
    apiKeyEnv: z.string().default('PLANNER_API_KEY'),
    // The method's sampling settings for the reasoning LLM.
    temperature: z.number().min(0).max(2).default(0.7),
    topP: z.number().min(0).max(1).default(0.8),
    topK: z.number().int().min(1).default(20),
    maxTokens: z.number().int().min(16).default(2048),
    timeoutMs: z.number().int().min(100).default(60_000),
    promptFile: z.string().optional(),
  })
  .strict();
export type PlannerConfig = z.infer<typeof plannerConfig>;

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
  model: string;
  promptHash: string;
  usage: { inputTokens: number; outputTokens: number };
}

/** Asks the reasoning LLM for a <plan>/<answer> program, through the official openai SDK. */
export class OpenAIPlanner {
  readonly prompt: string;
  readonly promptHash: string;
  // An ES private field: the client holds the API key, and #fields never reach JSON or a logged object.
  readonly #client: OpenAI;
  readonly #apiKey: string;

  constructor(private readonly cfg: PlannerConfig, env: NodeJS.ProcessEnv = process.env) {
    this.prompt = fs.readFileSync(promptPath(cfg.promptFile), 'utf8');
    this.promptHash = sha256Hex(this.prompt).slice(0, 16);
    // vLLM and Ollama accept any key; the node's retry policy does the retrying.
    this.#apiKey = env[cfg.apiKeyEnv] || 'EMPTY';
    this.#client = new OpenAI({ baseURL: cfg.baseUrl, apiKey: this.#apiKey, timeout: cfg.timeoutMs, maxRetries: 0 });
  }

  async plan(question: string, signal?: AbortSignal): Promise<PlanResult> {
    let res;
    try {
      res = await this.#client.chat.completions.create(
        {
          model: this.cfg.model,
          messages: [
            { role: 'system', content: this.prompt },
            { role: 'user', content: question },
          ],
          temperature: this.cfg.temperature,
          top_p: this.cfg.topP,
          max_tokens: this.cfg.maxTokens,
          // top_k is not in OpenAI's schema; vLLM and Ollama read it from the body.
          top_k: this.cfg.topK,
        } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
        { signal },
      );
    } catch (err) {
      throw plannerError(err, this.cfg.baseUrl, this.#apiKey);
    }
    const choice = res.choices[0];
    const text = stripThinking(choice?.message?.content ?? '');
    if (!text) {
      // Usually max_tokens spent on thinking; the same settings would likely do it again.
      throw new ProcessingError(
        `planner ${this.cfg.model} at ${this.cfg.baseUrl} returned no content (finish_reason=${choice?.finish_reason ?? 'none'})`,
      );
    }
    return {
      text,
      model: res.model || this.cfg.model,
      promptHash: this.promptHash,
      usage: { inputTokens: res.usage?.prompt_tokens ?? 0, outputTokens: res.usage?.completion_tokens ?? 0 },
    };
  }
}

/** Retriable: rate limits, server errors, timeouts, lost connections and aborts. */
function plannerError(err: unknown, baseUrl: string, apiKey: string): ProcessingError {
  // The server's own words help most, but a server could echo what it was sent: scrub the key.
  const detail = (m: string) => (apiKey.length >= 4 ? m.split(apiKey).join('[redacted]') : m).slice(0, 500);
  // Aborted because the node is stopping: the query was not planned, so another try may succeed.
  if (err instanceof OpenAI.APIUserAbortError) {
    return new ProcessingError(`planner call to ${baseUrl} aborted`, { retriable: true });
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return new ProcessingError(`planner at ${baseUrl} unreachable or timed out: ${detail(err.message)}`, { retriable: true });
  }
  if (err instanceof OpenAI.APIError) {
    const status = err.status ?? 0;
    const retriable = status === 408 || status === 429 || status >= 500;
    // OpenAI nests the reason under `error`; older vLLM puts it at the top, which the SDK keeps in its message.
    const said = (err.error as { message?: unknown } | undefined)?.message;
    return new ProcessingError(`planner at ${baseUrl} answered HTTP ${status}: ${detail(typeof said === 'string' ? said : err.message)}`, { retriable });
  }
  return new ProcessingError(`planner call failed: ${detail(String((err as Error)?.message ?? err))}`, { retriable: false });
}

/**
 * The answer without Qwen3's thinking, which appears in the content when the server runs
 * without a reasoning parser: drafts of the program in it would add gd_detect calls of
 * their own. Some chat templates open <think> in the prompt, so only </think> shows up.
 */
export function stripThinking(content: string): string {
  const end = content.indexOf('</think>');
  if (end >= 0) return content.slice(end + '</think>'.length).trim();
  // Cut off while still thinking (max_tokens): there is no answer yet.
  if (content.trimStart().startsWith('<think>')) return '';
  return content.trim();
}
