// Asks the three verifier stages through an LLM provider: builds each stage's prompt and
// images, consults the verdict cache, validates the answer (one repair turn, then a clear
// error carrying the raw answer), and hands the parsed answers to the cascade rules.
import { z } from 'zod';
import { countCacheLookup } from './verdict-cache-metrics';
import { ValidationError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import type { KeyValueStore } from '../../core/store';
import type { VerdictCacheEntry } from '../../schemas/generated/types';
import type { ProposedBox as Box } from '../detector/postprocess';
import type { CompletionRequest, CompletionResult, ContentPart } from '../llm/provider';
import {
  Answered,
  CallInfo,
  CascadeAsk,
  CascadeResult,
  cropAnswerSchema,
  CROP_ANSWER_JSON_SCHEMA,
  listAnswerSchema,
  LIST_ANSWER_JSON_SCHEMA,
  runCascade,
  Stage,
} from './cascade';
import type { BatchQueue } from '../llm/batch-queue';
import { batchAnswer } from '../llm/batch-routed-llm';
import { boxLines, boxText, fillPrompt, StagePrompts } from './prompts';
import { annotate, cropForVerification, toPng } from './verifier-images';

/** What the verifier needs from a provider: ResilientProvider adds the cost. */
export interface VerifierLlm {
  readonly kind: string;
  readonly model: string;
  complete(req: CompletionRequest): Promise<CompletionResult & { costUsd?: number }>;
}

export interface StageSettings {
  reasoningEffort?: CompletionRequest['reasoningEffort'];
  maxOutputTokens?: number;
}

export interface VerifierOptions {
  crop: { padFraction: number; longSide: number };
  maxOutputTokens?: number;
  /** The batch route: stage calls go to Batch API jobs through `queue` instead of the provider. */
  batch?: {
    queue: Pick<BatchQueue, 'result' | 'isPending' | 'request'>;
    /** The request body as the synchronous provider would send it. */
    bodyOf(req: CompletionRequest): Record<string, unknown>;
    maxAttempts: number;
  };
  /** Reasoning effort and output cap per stage, over the node's (the reference uses medium for all). */
  stages?: Partial<Record<Stage, StageSettings>>;
  /** Characters of a bad answer kept in the error (and so in the dead letter). */
  rawAnswerLimit?: number;
}

/** The image a proposal set was made on. Bytes are loaded only when a stage misses the cache. */
export interface VerifierImage {
  sha256: string;
  width: number;
  height: number;
  load(): Promise<Buffer>;
}

/** The model's answer broke the stage's schema twice (the first answer and the repair). */
export class VerifierAnswerError extends ValidationError {
  constructor(
    readonly stage: Stage,
    problem: string,
    readonly rawAnswer: string,
    limit: number,
  ) {
    const raw = rawAnswer.length > limit ? `${rawAnswer.slice(0, limit)}… (${rawAnswer.length} chars)` : rawAnswer;
    super(`verifier stage ${stage}: answer still invalid after one repair retry (${problem}); raw answer: ${JSON.stringify(raw)}`);
  }
}

type Prompt = Pick<CompletionRequest, 'instructions' | 'parts'>;

const INSTRUCTIONS = 'You check object detections for a training data set. Follow the instructions exactly and answer with JSON only.';

function parseAnswer<T>(raw: string, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; problem: string } {
  let json: unknown;
  try {
    // Some servers wrap JSON in a code fence even when asked not to.
    json = JSON.parse(raw.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1'));
  } catch (err) {
    return { ok: false, problem: `not valid JSON: ${(err as Error).message}` };
  }
  const r = schema.safeParse(json);
  if (!r.success) return { ok: false, problem: r.error.issues.map((i) => `${i.path.join('.') || '<root>'}: ${i.message}`).join('; ') };
  return { ok: true, value: r.data };
}

export class Verifier {
  /** Bumps when the cache entry format or the key recipe changes. */
  static readonly CACHE_FORMAT = 'verdict/v1';

  constructor(
    private readonly llm: VerifierLlm,
    readonly prompts: StagePrompts,
    private readonly cache: KeyValueStore<VerdictCacheEntry> | null,
    private readonly opts: VerifierOptions,
  ) {}

  /** Names everything that shapes a verdict; records carry it as `verifierVersion`. */
  get version(): string {
    const h = sha256Hex(
      JSON.stringify([this.llm.kind, this.llm.model, this.prompts.COARSE.hash, this.prompts.CROP.hash, this.prompts.FINAL.hash, this.opts.crop]),
    ).slice(0, 12);
    return `${this.llm.kind}:${this.llm.model}:${h}`;
  }

  get provider(): { kind: string; model: string } {
    return { kind: this.llm.kind, model: this.llm.model };
  }

  /** The verdict cache key: provider, model, prompt hash, image sha256 and the boxes shown. */
  cacheKey(stage: Stage, imageSha: string, boxes: Box[]): string {
    const shown = boxes.map((b) => [b.label, Math.round(b.x1), Math.round(b.y1), Math.round(b.x2), Math.round(b.y2)]);
    const extra = stage === 'CROP' ? this.opts.crop : null;
    // A stage's own reasoning effort may change its verdicts; unset keeps the keys made before it existed.
    const effort = this.opts.stages?.[stage]?.reasoningEffort;
    const parts = [Verifier.CACHE_FORMAT, this.llm.kind, this.llm.model, this.prompts[stage].hash, stage, imageSha, shown, extra];
    return sha256Hex(JSON.stringify(effort ? [...parts, effort] : parts));
  }

  async verify(image: VerifierImage, boxes: Box[], signal?: AbortSignal): Promise<CascadeResult> {
    // Decoded once per record and only if some stage has to call the provider.
    let clean: Promise<{ png: Buffer; bytes: Buffer }> | undefined;
    const cleanPng = () => (clean ??= image.load().then(async (bytes) => ({ bytes, png: (await toPng(bytes)).png })));
    const dims = { width: image.width, height: image.height };
    const img = (png: Buffer, w: number, h: number): ContentPart => ({ type: 'image', data: png, mediaType: 'image/png', width: w, height: h });

    // Cached layout: static text in the instructions, images next, the per-record text last.
    const cached = this.prompts.layout === 'cached';
    const layout = (stage: Stage, text: string, images: ContentPart[]): Prompt =>
      cached
        ? { instructions: `${INSTRUCTIONS}\n\n${this.prompts[stage].static}`, parts: [...images, { type: 'text', text }] }
        : { instructions: INSTRUCTIONS, parts: [{ type: 'text', text }, ...images] };

    const listStage = (stage: 'COARSE' | 'FINAL') => async (shown: Box[]) =>
      this.ask(stage, this.cacheKey(stage, image.sha256, shown), listAnswerSchema, LIST_ANSWER_JSON_SCHEMA, signal, image.sha256, async () => {
        const c = await cleanPng();
        const annotated = await annotate(c.bytes, shown);
        return layout(stage, fillPrompt(this.prompts[stage], { ...dims, boxes: boxLines(shown) }), [
          img(c.png, image.width, image.height),
          img(annotated.png, annotated.width, annotated.height),
        ]);
      });

    const ask: CascadeAsk = {
      coarse: listStage('COARSE'),
      final: listStage('FINAL'),
      crop: (box) =>
        this.ask('CROP', this.cacheKey('CROP', image.sha256, [box]), cropAnswerSchema, CROP_ANSWER_JSON_SCHEMA, signal, image.sha256, async () => {
          const c = await cleanPng();
          const crop = await cropForVerification(c.bytes, box, this.opts.crop);
          return layout('CROP', fillPrompt(this.prompts.CROP, { ...dims, box: boxText(box), label: box.label }), [img(crop.png, crop.width, crop.height)]);
        }),
    };
    return runCascade(boxes, ask);
  }

  private async ask<T>(
    stage: Stage,
    key: string,
    schema: z.ZodType<T>,
    jsonSchema: Record<string, unknown>,
    signal: AbortSignal | undefined,
    imageSha: string,
    prompt: () => Promise<Prompt>,
  ): Promise<Answered<T>> {
    const batch = this.opts.batch;
    // Batch mode re-runs a cascade as its results come in: a stage answered by a batch keeps
    // its cost on every run (the finished record carries what all its calls cost), so the
    // batch result is read before the verdict cache it also fills.
    const batchResult = batch ? await batch.queue.result(key) : undefined;
    const entry = batchResult?.raw != null ? undefined : await this.cache?.get(key);
    if (entry !== undefined) {
      const parsed = parseAnswer(entry.raw, schema);
      // A cached answer is one that validated when it was stored; if the schema has
      // changed since, fall through and ask again.
      if (parsed.ok) {
        countCacheLookup(this.llm.kind, this.llm.model, stage, true);
        return { answer: parsed.value, info: { raw: entry.raw, cached: true, calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 } };
      }
    }
    if (this.cache) countCacheLookup(this.llm.kind, this.llm.model, stage, false);
    const settings = this.opts.stages?.[stage] ?? {};
    // Built only when a call is made: a batch answer needs no image.
    let built: CompletionRequest | undefined;
    const request = async (): Promise<CompletionRequest> =>
      (built ??= {
        ...(await prompt()),
        output: { name: stage === 'CROP' ? 'crop_verdict' : 'box_selection', schema: jsonSchema },
        maxOutputTokens: settings.maxOutputTokens ?? this.opts.maxOutputTokens,
        ...(settings.reasoningEffort ? { reasoningEffort: settings.reasoningEffort } : {}),
        // Calls on one image share its prefix: route them together (OpenAI's prompt_cache_key).
        cacheKey: imageSha || undefined,
        signal,
      });
    let first: { text: string } | undefined;
    const info: CallInfo = { raw: '', cached: false, calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 };
    if (batch) {
      // Batch route: the answer comes from a Batch API job, or the call is queued for one.
      const r = await batchAnswer(batch.queue, key, batchResult, async () => batch.bodyOf(await request()), batch.maxAttempts, `verifier stage ${stage}`);
      Object.assign(info, {
        raw: r.raw,
        calls: 1,
        inputTokens: r.inputTokens,
        cachedInputTokens: r.cachedInputTokens,
        outputTokens: r.outputTokens,
        costUsd: r.costUsd,
      });
      first = { text: r.raw };
    }
    const call = async (r: CompletionRequest) => {
      const res = await this.llm.complete(r);
      info.calls += 1;
      info.inputTokens += res.usage.inputTokens;
      info.cachedInputTokens! += res.usage.cachedInputTokens ?? 0;
      info.outputTokens += res.usage.outputTokens;
      info.costUsd += res.costUsd ?? 0;
      info.raw = res.text;
      return res;
    };
    first ??= await call(await request());
    let parsed = parseAnswer(first.text, schema);
    if (!parsed.ok) {
      // The one repair turn (after a batch answer too: synchronous, it is rare).
      const problem = parsed.problem;
      const second = await call({ ...(await request()), repair: { previousAnswer: first.text, problem } });
      parsed = parseAnswer(second.text, schema);
      if (!parsed.ok) throw new VerifierAnswerError(stage, parsed.problem, second.text, this.opts.rawAnswerLimit ?? 2000);
    }
    await this.cache?.put(key, { raw: info.raw, model: this.llm.model });
    return { answer: parsed.value, info };
  }
}
