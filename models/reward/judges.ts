// The four LLM judges of the reasoning reward (method, Loop 2): logic, attributes, spatial
// and code adherence. Each reads the question, plan and program from a versioned prompt
// file and ends its reply with <answer>0|1</answer>. The four calls go out concurrently
// through one provider, which owns retries, timeouts, rate limits and the breaker.
//
// Unlike the reference, a call that still fails after the provider's retries is an error,
// not a reward of 0: a silent 0 would train the policy on an outage. The caller retries the
// rollout or dead-letters it. An answer without a readable tag is a 0 with parsed=false, so
// the record can flag it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError, errorMessage, isRetriable, ValorError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import type { CompletionRequest, CompletionResult } from '../llm/provider';
import type { PromptFile } from '../verifier/prompts';
import { parseJudgeScore } from './reward-score';

export type { PromptFile } from '../verifier/prompts';

export const JUDGES = ['logic', 'attributes', 'spatial', 'adherence'] as const;
export type JudgeName = (typeof JUDGES)[number];
export type JudgePrompts = Record<JudgeName, PromptFile>;

/** Placeholders every judge prompt must use, and the only ones it may use. */
const PLACEHOLDERS = ['question', 'plan', 'program'] as const;

// Compiled code runs from dist/, where prompt files are not copied: look in the source tree too.
const PROMPT_DIRS = [path.join(__dirname, 'prompts'), path.join(__dirname, '..', '..', '..', 'models', 'reward', 'prompts')];

export const judgePromptsConfig = z
  .object({
    // v2: the v1 text with the rollout moved to the end, so a judge's calls share their
    // rubric (and, within a GRPO group, the question) as a cacheable prefix.
    logic: z.string().min(1).default('logic-v2.md'),
    attributes: z.string().min(1).default('attributes-v2.md'),
    spatial: z.string().min(1).default('spatial-v2.md'),
    adherence: z.string().min(1).default('adherence-v2.md'),
  })
  .strict();
export type JudgePromptsConfig = z.infer<typeof judgePromptsConfig>;
export type JudgePromptsConfigInput = z.input<typeof judgePromptsConfig>;

/** What the judges need from a provider: ResilientProvider adds the cost. */
export interface JudgeLlm {
  readonly kind: string;
  readonly model: string;
  complete(req: CompletionRequest): Promise<CompletionResult & { costUsd?: number }>;
}

export interface JudgeOptions {
  /** Per judge call; unset leaves the provider's default (thinking models need room). */
  maxOutputTokens?: number;
  /** Characters of each answer kept in `raw` (the tail, where the verdict is). */
  rawAnswerLimit?: number;
}

export interface JudgeInput {
  question: string;
  plan: string;
  program: string;
}

export interface JudgeVerdict {
  score: 0 | 1;
  /** False when the answer had no readable final <answer>0|1</answer> (scored 0). */
  parsed: boolean;
  /** The judge's answer, truncated to its last rawAnswerLimit characters. */
  raw: string;
  promptHash: string;
}

export interface JudgeUsage {
  calls: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface JudgeAllResult {
  components: Record<JudgeName, JudgeVerdict>;
  usage: JudgeUsage;
  /** Wall time of the four concurrent calls. */
  latencyMs: number;
}

/** A judge call that failed after the provider's retries; retriable when the cause is. */
export class JudgeCallError extends ValorError {
  constructor(
    readonly judge: JudgeName,
    cause: unknown,
  ) {
    super(`reward judge '${judge}' failed: ${errorMessage(cause)}`, { retriable: isRetriable(cause), cause });
  }
}

/** A bare file name is looked up among the shipped prompts; a path is used as given. */
function resolvePrompt(name: string, field: string): string {
  const candidates = name.includes('/') || name.includes(path.sep) ? [path.resolve(name)] : PROMPT_DIRS.map((d) => path.join(d, name));
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new ConfigError(`${field}: prompt file '${name}' not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Checks placeholders at start-up, so a bad prompt file fails before any record is judged. */
function checkPlaceholders(text: string, file: string, field: string): void {
  const used = new Set([...text.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]!));
  const unknown = [...used].filter((k) => !(PLACEHOLDERS as readonly string[]).includes(k));
  if (unknown.length)
    throw new ConfigError(
      `${field}: prompt ${file} uses ${unknown.map((k) => `{{${k}}}`).join(', ')}, which the judges do not provide (only {{question}}, {{plan}}, {{program}})`,
    );
  const missing = PLACEHOLDERS.filter((k) => !used.has(k));
  if (missing.length) throw new ConfigError(`${field}: prompt ${file} lacks ${missing.map((k) => `{{${k}}}`).join(', ')}: the judge would not see it`);
}

function fill(prompt: PromptFile, input: JudgeInput): string {
  // One pass over the template: text inside the rollout that looks like {{x}} stays as is.
  return prompt.text.replace(/\{\{(\w+)\}\}/g, (_, k: string) => input[k as keyof JudgeInput]);
}

function tail(text: string, limit: number): string {
  return text.length > limit ? `…(${text.length} chars) ${text.slice(text.length - limit)}` : text;
}

export class RewardJudges {
  constructor(
    private readonly llm: JudgeLlm,
    readonly prompts: JudgePrompts,
    private readonly opts: JudgeOptions = {},
  ) {}

  /** Loads the four prompt files; ConfigError names the field (`prompts.logic`, …). */
  static loadPrompts(config: JudgePromptsConfigInput = {}): JudgePrompts {
    const parsed = judgePromptsConfig.safeParse(config);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `prompts.${i.path.join('.') || '<root>'}: ${i.message}`);
      throw new ConfigError(`invalid judge prompts config: ${problems.join('; ')}`);
    }
    const load = (judge: JudgeName): PromptFile => {
      const field = `prompts.${judge}`;
      const file = resolvePrompt(parsed.data[judge], field);
      const text = fs.readFileSync(file, 'utf8');
      checkPlaceholders(text, file, field);
      return { file, text, hash: sha256Hex(text).slice(0, 16) };
    };
    return { logic: load('logic'), attributes: load('attributes'), spatial: load('spatial'), adherence: load('adherence') };
  }

  /** Prompt hash per judge, as a record's `promptHashes`. */
  get promptHashes(): Record<JudgeName, string> {
    return {
      logic: this.prompts.logic.hash,
      attributes: this.prompts.attributes.hash,
      spatial: this.prompts.spatial.hash,
      adherence: this.prompts.adherence.hash,
    };
  }

  /** Names everything that shapes a score: provider, model and the four prompt hashes. */
  get version(): string {
    const h = sha256Hex(JSON.stringify([this.llm.kind, this.llm.model, JUDGES.map((j) => this.prompts[j].hash), this.opts.maxOutputTokens ?? null])).slice(
      0,
      12,
    );
    return `${this.llm.kind}:${this.llm.model}:${h}`;
  }

  get provider(): { kind: string; model: string } {
    return { kind: this.llm.kind, model: this.llm.model };
  }

  /**
   * Runs the four judges concurrently. Throws JudgeCallError if any call fails after the
   * provider's retries; the other calls are then aborted (their answers would be discarded).
   */
  async judgeAll(input: JudgeInput, signal?: AbortSignal): Promise<JudgeAllResult> {
    const started = performance.now();
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    if (signal?.aborted) controller.abort(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });

    const usage: JudgeUsage = { calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 };
    let firstFailure: JudgeCallError | undefined;
    const judge = async (name: JudgeName): Promise<JudgeVerdict> => {
      const prompt = this.prompts[name];
      try {
        const res = await this.llm.complete({
          parts: [{ type: 'text', text: fill(prompt, input) }],
          // The rollouts of one question share its prefix: route them together.
          cacheKey: `q:${sha256Hex(input.question).slice(0, 16)}`,
          maxOutputTokens: this.opts.maxOutputTokens,
          signal: controller.signal,
        });
        usage.calls += 1;
        usage.inputTokens += res.usage.inputTokens;
        usage.cachedInputTokens += res.usage.cachedInputTokens ?? 0;
        usage.outputTokens += res.usage.outputTokens;
        usage.costUsd += res.costUsd ?? 0;
        const { score, parsed } = parseJudgeScore(res.text);
        return { score, parsed, raw: tail(res.text, this.opts.rawAnswerLimit ?? 2000), promptHash: prompt.hash };
      } catch (err) {
        // Only the first failure is the cause; the others are our own abort that follows it.
        if (!firstFailure) {
          firstFailure = new JudgeCallError(name, err);
          controller.abort(firstFailure);
        }
        throw firstFailure;
      }
    };

    try {
      // allSettled, so no call is still in flight (and spending) when we return or throw.
      const settled = await Promise.allSettled(JUDGES.map(judge));
      if (firstFailure) throw firstFailure;
      const [logic, attributes, spatial, adherence] = settled.map((s) => (s as PromiseFulfilledResult<JudgeVerdict>).value) as [
        JudgeVerdict,
        JudgeVerdict,
        JudgeVerdict,
        JudgeVerdict,
      ];
      return { components: { logic, attributes, spatial, adherence }, usage, latencyMs: performance.now() - started };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
