import { z } from 'zod';
import { ProcessingError } from '../core/errors';
import { deterministicId } from '../core/ids';
import { lineageOf } from '../core/lineage';
import { perRecord } from '../core/per-record';
import { defineProcessor, Emit } from '../core/processor';
import { retryPolicySchema } from '../core/retry';
import { textLimitsSchema } from '../core/text-limits';
import type { DetectionRequest, ImageQuery } from '../schemas/generated/types';
import { checkImageQuery } from './passthrough';
import { splitPhrases } from '../models/detector/caption';
import { nodeProvider } from '../models/llm/llm-node-config';
import { pauseWhileDown } from '../models/llm/pause-while-down';
import { Planner, plannerConfig } from '../models/planner/planner';

export const planConfig = z
  .object({
    /** Cap on phrases per detect call: long prompts overflow GroundingDINO's 256 tokens. */
    maxPhrasesPerCall: z.number().int().min(1).max(64).default(16),
    concurrency: z.number().int().min(1).max(1024).default(32),
    /** Retries of a whole record; the planner's calls retry on their own (planner.limits). */
    retry: retryPolicySchema.prefault({ maxAttempts: 2 }),
    /**
     * A reasoning LLM that writes the program when an event has neither phrases nor one:
     * provider, limits, prices, maxOutputTokens as every node that calls a model, plus the
     * sampling settings and the prompt file.
     */
    planner: plannerConfig.optional(),
    /**
     * Length limits of question, phrases and program (maxQuestionChars, maxPhraseChars,
     * maxPhrases, maxProgramChars; defaults and reasons in core/text-limits.ts). An event
     * over a limit, or with a NUL or an unpaired surrogate, is dead-lettered.
     */
    limits: textLimitsSchema.prefault({}),
  })
  .strict();

/**
 * The program inside a reasoning LLM's answer, as the method takes it: the single
 * <answer>...</answer> block, else the first fenced code block, else the whole text.
 */
export function programOf(text: string): string {
  const answers = [...text.matchAll(/<answer>([\s\S]*?)<\/answer>/g)];
  if (answers.length === 1) return answers[0]![1]!;
  const fenced = /```[a-zA-Z0-9_+-]*\n([\s\S]*?)```/.exec(text);
  if (fenced) return fenced[1]!;
  return text;
}

/** The first string argument of each `gd_detect(...)` call, in program order. */
export function detectCallPhrases(program: string): string[] {
  const out: string[] = [];
  const call = /\bgd_detect\s*\(/g;
  while (call.exec(program)) {
    // Scan the call's arguments for the first string literal, stopping at the closing paren.
    let depth = 1;
    for (let i = call.lastIndex; i < program.length && depth > 0; i++) {
      const c = program[i]!;
      if (c === '(') depth++;
      else if (c === ')') depth--;
      else if (c === '"' || c === "'") {
        const triple = program.startsWith(c.repeat(3), i);
        const quote = triple ? c.repeat(3) : c;
        const end = program.indexOf(quote, i + quote.length);
        if (end < 0) break;
        out.push(program.slice(i + quote.length, end));
        break;
      }
    }
  }
  return out;
}

/**
 * image-queries -> detection-requests: one request per gd_detect call. Phrases come from
 * the event, else from the program on the event, else from a program the reasoning LLM
 * (planner) writes for the question.
 */
export const plan = defineProcessor({
  kind: 'plan',
  description: 'turns image queries into detection requests (phrases from the event, its program or an LLM planner)',
  input: 'ImageQuery',
  outputs: { requests: 'DetectionRequest' },
  config: planConfig,
  prepare: async (config, ctx) => {
    // A missing key variable or prompt file fails start-up, not every record.
    if (config.planner) new Planner(nodeProvider(ctx.resources, config.planner, ctx.logger), config.planner);
  },
  create: (config, ctx) => {
    const llm = config.planner ? nodeProvider(ctx.resources, config.planner, ctx.logger) : undefined;
    const planner = llm && config.planner ? new Planner(llm, config.planner) : undefined;
    // Outage: stop taking records (Kafka pauses the partitions) rather than failing them.
    if (llm) {
      const down = pauseWhileDown(llm, ctx.flow);
      ctx.onClose(() => down.unsubscribe());
    }
    return perRecord<ImageQuery>(
      async (rec) => {
        const q = rec.value;
        checkImageQuery(q, config.limits, `nodes.${ctx.node}.limits`);
        let calls: string[][];
        let source: DetectionRequest['phraseSource'];
        const versions: Record<string, string> = {};
        if (q.phrases.length > 0) {
          calls = [q.phrases.map((p) => p.trim())];
          source = 'EVENT';
        } else if (q.program) {
          calls = detectCallPhrases(programOf(q.program))
            .map(splitPhrases)
            .filter((c) => c.length > 0);
          source = 'PROGRAM';
          if (calls.length === 0) {
            throw new ProcessingError(`image query '${q.id}': its program has no gd_detect call with a phrase`);
          }
        } else if (planner) {
          const planned = await planner.plan(q.question, ctx.signal);
          calls = detectCallPhrases(programOf(planned.text))
            .map(splitPhrases)
            .filter((c) => c.length > 0);
          source = 'PLANNER';
          versions['planner.provider'] = planner.provider;
          versions['planner.model'] = planned.model;
          versions['planner.promptHash'] = planned.promptHash;
          if (calls.length === 0) {
            throw new ProcessingError(`image query '${q.id}': the planner's program has no gd_detect call with a phrase`);
          }
        } else {
          throw new ProcessingError(
            `image query '${q.id}' has neither phrases nor a program, and no planner is configured: set nodes.plan.planner.provider (e.g. {kind: 'openai-compatible', baseURL}) to have a reasoning LLM write the program`,
          );
        }
        return calls.map((phrases, callIndex): Emit => {
          if (phrases.length > config.maxPhrasesPerCall) {
            throw new ProcessingError(
              `image query '${q.id}' call ${callIndex} has ${phrases.length} phrases, over maxPhrasesPerCall=${config.maxPhrasesPerCall}`,
            );
          }
          const value: DetectionRequest = {
            id: deterministicId('det', q.id, callIndex),
            queryId: q.id,
            callIndex,
            image: q.image,
            question: q.question,
            phrases,
            phraseSource: source,
            createdAt: ctx.clock.now(),
            lineage: lineageOf(ctx.node, [q.id], versions, rec.origin),
          };
          return { port: 'requests', key: q.id, value };
        });
      },
      { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler },
    );
  },
});
