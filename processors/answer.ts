import { z } from 'zod';
import { errorMessage, isRetriable } from '../core/errors';
import { deterministicId } from '../core/ids';
import { lineageOf } from '../core/lineage';
import { perRecord } from '../core/per-record';
import { defineProcessor } from '../core/processor';
import { retryPolicySchema } from '../core/retry';
import { textLimitsSchema } from '../core/text-limits';
import { countAnswer } from '../models/answer/answer-metrics';
import { answerRecord, RunOutcome } from '../models/answer/answer-record';
import { answerTools, vqaSettings } from '../models/answer/answer-tools';
import { detectConfig, detectorBackend } from '../models/detector/detector-backend';
import { depthModelConfig, loadDepthModel } from '../models/depth/depth-model';
import { ImageIntake, imageIntakeConfig } from '../models/images/image-intake';
import { budgetConfig, flowSources, nodeSpendingGuard } from '../models/llm/budget';
import { llmNodeShape, nodeProvider } from '../models/llm/llm-node-config';
import { pauseWhileDown } from '../models/llm/pause-while-down';
import { Planner, plannerConfig } from '../models/planner/planner';
import { runProgram, sandboxLimitsConfig } from '../models/reward/python-sandbox';
import type { ImageQuery } from '../schemas/generated/types';
import { checkImageQuery } from './passthrough';
import { programOf } from './plan';

// The method's inference thresholds (mining runs lower and lets the verifier clean up).
const INFERENCE_THRESHOLDS = { boxThreshold: 0.35, textThreshold: 0.25 };

export const answerConfig = z
  .object({
    /**
     * gd_detect's detector: the detect node's settings (kind, model, tokenizer, ...) with the
     * method's inference thresholds by default (box 0.35, text 0.25). In the valor topology
     * it defaults to the detect node's detector at those thresholds.
     */
    detector: z.preprocess((v) => ({ ...INFERENCE_THRESHOLDS, ...(v as object | undefined) }), detectConfig),
    /** vqa's VLM: provider, limits, prices as every node that calls a model, plus crops and a cache. Unset: vqa calls fail with a ToolError naming this setting. */
    vqa: z
      .object({ ...llmNodeShape({ provider: { kind: 'openai-responses' } }), ...vqaSettings.shape })
      .strict()
      .optional(),
    /** depth's model: a Depth-Anything- or MoGe-style ONNX export (docs/depth-models.md). Unset: depth calls fail with a ToolError naming this setting. */
    depth: depthModelConfig.optional(),
    /** The reasoning LLM that writes the program when the event carries none. */
    planner: plannerConfig.optional(),
    /** Tool calls one program may make; the next fails with a ToolError and the record says TOOL_BUDGET. */
    maxToolCalls: z.number().int().min(1).max(10_000).default(32),
    /** The sandbox's limits (the reward's sandbox, with room for tool latency: waiting on a tool takes no CPU). */
    sandbox: sandboxLimitsConfig({ timeoutMs: 60_000, cpuSeconds: 5, memoryMb: 256 }),
    /** Programs in work at once; their vqa calls share the VLM's `limits.concurrency`. */
    concurrency: z.number().int().min(1).max(1024).default(8),
    images: imageIntakeConfig.prefault({}),
    retry: retryPolicySchema.prefault({ maxAttempts: 2 }),
    /** Spending limits on vqa and the planner (USD per UTC hour/day, total). */
    budget: budgetConfig.prefault({}),
    limits: textLimitsSchema.prefault({}),
  })
  .strict();
export type AnswerConfig = z.infer<typeof answerConfig>;

/**
 * image-queries -> answers (the method's reasoner): the event's program, or one the planner
 * writes, runs in the Python sandbox with gd_detect, depth and vqa served by the host over a
 * pipe. Every query gets one answer record, also when the program fails, times out, spends
 * its tool-call budget or cannot be had: the record says which, and why.
 */
export const answer = defineProcessor({
  kind: 'answer',
  description: "runs each query's program in the sandbox against the real tools (gd_detect, depth, vqa) and records the answer",
  input: 'ImageQuery',
  outputs: { answers: 'Answer' },
  config: answerConfig,
  prepare: async (config, ctx) => {
    // A missing model, key variable or prompt file fails start-up, not every record.
    await detectorBackend(ctx.resources, config.detector);
    if (config.depth) await loadDepthModel(ctx.resources, config.depth);
    if (config.vqa) nodeProvider(ctx.resources, config.vqa, ctx.logger);
    if (config.planner) new Planner(nodeProvider(ctx.resources, config.planner, ctx.logger), config.planner);
  },
  create: (config, ctx) => {
    const intake = new ImageIntake(config.images);
    const vqaLlm = config.vqa ? nodeProvider(ctx.resources, config.vqa, ctx.logger) : undefined;
    const plannerLlm = config.planner ? nodeProvider(ctx.resources, config.planner, ctx.logger) : undefined;
    const planner = plannerLlm && config.planner ? new Planner(plannerLlm, config.planner) : undefined;
    const vqaCache = config.vqa?.cache.enabled ? ctx.stores.open(config.vqa.cache.store, 'VerdictCacheEntry') : Promise.resolve(null);
    const flows = flowSources(ctx.flow);
    for (const [name, llm] of [
      ['vqa', vqaLlm],
      ['planner', plannerLlm],
    ] as const) {
      // Outage: stop taking records rather than answer every query with a provider error.
      if (llm) {
        const down = pauseWhileDown(llm, flows(name));
        ctx.onClose(() => down.unsubscribe());
      }
    }
    const budget = nodeSpendingGuard(ctx, config.budget, flows('budget'));
    const detector = () => detectorBackend(ctx.resources, config.detector);
    const depth = config.depth ? () => loadDepthModel(ctx.resources, config.depth!) : undefined;

    return perRecord<ImageQuery>(
      async (rec) => {
        const q = rec.value;
        checkImageQuery(q, config.limits, `nodes.${ctx.node}.limits`);
        await budget.admit(ctx.signal);
        const versions: Record<string, string> = { ...(await detector()).versions, 'answer.maxToolCalls': String(config.maxToolCalls) };
        if (vqaLlm) Object.assign(versions, { 'vqa.provider': vqaLlm.kind, 'vqa.model': vqaLlm.model });
        if (depth) versions['depth.modelSha256'] = (await depth()).modelSha256;
        const outcome: RunOutcome = { source: 'NONE', program: null, plannerCostUsd: 0, plannerUsage: null };
        if (q.program) {
          Object.assign(outcome, { source: 'EVENT', program: q.program });
        } else if (planner) {
          try {
            const planned = await planner.plan(q.question, ctx.signal);
            Object.assign(outcome, { source: 'PLANNER', program: planned.text, plannerCostUsd: planned.costUsd ?? 0, plannerUsage: planned.usage });
            Object.assign(versions, { 'planner.provider': planner.provider, 'planner.model': planned.model, 'planner.promptHash': planned.promptHash });
          } catch (err) {
            // An outage or a shutdown is retried (then dead-lettered), not answered with NO_PROGRAM.
            if (ctx.signal.aborted || isRetriable(err)) throw err;
            outcome.error = `the planner failed: ${errorMessage(err)}`;
          }
        } else {
          outcome.error = 'the event has no program and no planner is configured (nodes.answer.planner)';
        }
        const tools = answerTools(q.image, {
          intake,
          detector,
          detectConfig: config.detector,
          depth,
          signal: ctx.signal,
          vqa: vqaLlm ? { llm: vqaLlm, settings: config.vqa!, cache: await vqaCache } : undefined,
        });
        if (outcome.program !== null) {
          outcome.run = await runProgram(programOf(outcome.program), { ...config.sandbox, tools: { impl: tools.impl, maxCalls: config.maxToolCalls } });
          // A program that failed on a provider outage or an image fetch did nothing wrong: the
          // record is retried (then dead-lettered with the cause), not answered as FAILED.
          const transient = tools.transient();
          if (transient && !outcome.run.ok) {
            await budget.record(tools.usage.costUsd + outcome.plannerCostUsd);
            throw transient;
          }
        }
        // The image as the tools loaded it (hash and size), when a tool did.
        const img = tools.loaded();
        const seen = img ? { ...q, image: { ...q.image, sha256: img.sha256, width: img.width, height: img.height, mediaType: img.mediaType } } : q;
        const value = answerRecord(seen, outcome, tools.usage, {
          id: deterministicId('ans', q.id),
          createdAt: ctx.clock.now(),
          lineage: lineageOf(ctx.node, [q.id], versions, rec.origin),
        });
        await budget.record(value.usage.costUsd);
        countAnswer(ctx.node, value);
        ctx.logger.debug({ query: q.id, status: value.status, toolCalls: value.toolCalls.length, costUsd: value.usage.costUsd }, 'answered');
        return [{ port: 'answers', key: q.id, value }];
      },
      { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler },
    );
  },
});
