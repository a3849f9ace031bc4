// The decision rules of VALOR's three-stage verification, apart from how each stage is
// asked (prompts, images, provider, cache): that lives in the verify processor, which
// passes the three `ask` functions in. Keeping the rules pure makes them testable on
// crafted answers.
import { z } from 'zod';
import type { ProposedBox as Box } from '../detector/postprocess';

export type Stage = 'COARSE' | 'CROP' | 'FINAL';

/** Stage 1 and stage 3 answer: indices into the list the stage was shown (1-based). */
export const listAnswerSchema = z
  .object({
    keep_indices: z.array(z.number().int()),
    drop_indices: z.array(z.number().int()).default([]),
    notes: z.array(z.string()).default([]),
  })
  .strip();
export type ListAnswer = z.infer<typeof listAnswerSchema>;

/** Stage 2 answer, one per box. */
export const cropAnswerSchema = z.object({ keep: z.boolean(), reason: z.string().default('') }).strip();
export type CropAnswer = z.infer<typeof cropAnswerSchema>;

/** JSON schemas sent as the strict structured-output format (same shape as the zod ones). */
export const LIST_ANSWER_JSON_SCHEMA = {
  type: 'object',
  properties: {
    keep_indices: { type: 'array', items: { type: 'integer' } },
    drop_indices: { type: 'array', items: { type: 'integer' } },
    notes: { type: 'array', items: { type: 'string' } },
  },
  required: ['keep_indices', 'drop_indices', 'notes'],
  additionalProperties: false,
} as const;
export const CROP_ANSWER_JSON_SCHEMA = {
  type: 'object',
  properties: { keep: { type: 'boolean' }, reason: { type: 'string' } },
  required: ['keep', 'reason'],
  additionalProperties: false,
} as const;

/** What one stage call cost and whether the verdict cache answered it. */
export interface CallInfo {
  raw: string;
  cached: boolean;
  /** Provider calls made (0 on a cache hit; 2 when a repair retry was needed). */
  calls: number;
  inputTokens: number;
  /** Of inputTokens, read from the provider's prompt cache. */
  cachedInputTokens?: number;
  outputTokens: number;
  costUsd: number;
}

export interface Answered<T> {
  answer: T;
  info: CallInfo;
}

export interface CascadeAsk {
  /** Stage 1 on the whole list (boxes numbered 1..n in this order). */
  coarse(boxes: Box[]): Promise<Answered<ListAnswer>>;
  /** Stage 2 on one box; `index` is its 1-based position in the proposals. */
  crop(box: Box, index: number): Promise<Answered<CropAnswer>>;
  /** Stage 3 on the survivors, renumbered 1..m in this order. */
  final(boxes: Box[]): Promise<Answered<ListAnswer>>;
}

export interface Verdict {
  /** 1-based index of the box in the proposal set (stable across stages). */
  boxIndex: number;
  keep: boolean;
  reason: string | null;
}

export interface StageResult {
  stage: Stage;
  verdicts: Verdict[];
  calls: CallInfo[];
}

export interface CascadeResult {
  /** One entry per stage that ran, in order. Stages with nothing to judge do not run. */
  stages: StageResult[];
  /** 1-based indices of the accepted boxes, ascending. */
  accepted: number[];
  /** Every other box: the stage that rejected it and why. */
  rejected: Array<{ boxIndex: number; stage: Stage; reason: string | null }>;
}

/** Notes come as "<index>: <reason>"; anything else is kept as a general note. */
export function notesByIndex(notes: string[]): { byIndex: Map<number, string>; general: string[] } {
  const byIndex = new Map<number, string>();
  const general: string[] = [];
  for (const note of notes) {
    const m = /^\s*#?(\d+)\s*[:.)-]\s*(.*)$/s.exec(note);
    if (m) byIndex.set(Number(m[1]), m[2]!.trim());
    else if (note.trim()) general.push(note.trim());
  }
  return { byIndex, general };
}

/** The 1-based indices a list answer keeps, as the method reads them: keep_indices within 1..n. */
export function keptIndices(answer: ListAnswer, n: number): Set<number> {
  return new Set(answer.keep_indices.filter((i) => Number.isInteger(i) && i >= 1 && i <= n));
}

function listVerdicts(answer: ListAnswer, shown: number[], dropReason: string): Verdict[] {
  const keep = keptIndices(answer, shown.length);
  const { byIndex, general } = notesByIndex(answer.notes);
  return shown.map((boxIndex, i) => {
    const local = i + 1;
    const kept = keep.has(local);
    const note = byIndex.get(local) ?? null;
    return { boxIndex, keep: kept, reason: kept ? note : (note ?? (general.length ? general.join('; ') : dropReason)) };
  });
}

/**
 * Runs the three stages over one proposal set:
 * 1. coarse on all boxes; keep = keep_indices within 1..n (when unsure the model drops);
 * 2. one crop call per stage-1 survivor, all at once (the reference ran them in sequence);
 * 3. final/dedup on the stage-2 survivors renumbered 1..m, skipped when none survived.
 * No NMS anywhere: de-duplication is the VLM's job in stage 3.
 */
export async function runCascade(boxes: Box[], ask: CascadeAsk): Promise<CascadeResult> {
  const stages: StageResult[] = [];
  const rejected: CascadeResult['rejected'] = [];
  const done = (accepted: number[]): CascadeResult => ({ stages, accepted, rejected: rejected.sort((a, b) => a.boxIndex - b.boxIndex) });
  if (boxes.length === 0) return done([]);

  const all = boxes.map((_, i) => i + 1);
  const coarse = await ask.coarse(boxes);
  const v1 = listVerdicts(coarse.answer, all, 'dropped at coarse review');
  stages.push({ stage: 'COARSE', verdicts: v1, calls: [coarse.info] });
  for (const v of v1) if (!v.keep) rejected.push({ boxIndex: v.boxIndex, stage: 'COARSE', reason: v.reason });
  const afterCoarse = v1.filter((v) => v.keep).map((v) => v.boxIndex);
  if (afterCoarse.length === 0) return done([]);

  const crops = await Promise.all(afterCoarse.map((i) => ask.crop(boxes[i - 1]!, i)));
  const v2: Verdict[] = crops.map((c, k) => ({ boxIndex: afterCoarse[k]!, keep: c.answer.keep, reason: c.answer.reason || null }));
  stages.push({ stage: 'CROP', verdicts: v2, calls: crops.map((c) => c.info) });
  for (const v of v2) if (!v.keep) rejected.push({ boxIndex: v.boxIndex, stage: 'CROP', reason: v.reason ?? 'rejected on the crop' });
  const afterCrop = v2.filter((v) => v.keep).map((v) => v.boxIndex);
  if (afterCrop.length === 0) return done([]);

  const fin = await ask.final(afterCrop.map((i) => boxes[i - 1]!));
  const v3 = listVerdicts(fin.answer, afterCrop, 'removed at final review (wrong label or duplicate)');
  stages.push({ stage: 'FINAL', verdicts: v3, calls: [fin.info] });
  for (const v of v3) if (!v.keep) rejected.push({ boxIndex: v.boxIndex, stage: 'FINAL', reason: v.reason });
  return done(v3.filter((v) => v.keep).map((v) => v.boxIndex));
}

/** Sums what a list of calls cost. */
export function sumCalls(calls: CallInfo[]): { calls: number; inputTokens: number; cachedInputTokens: number; outputTokens: number; costUsd: number } {
  return calls.reduce(
    (t, c) => ({
      calls: t.calls + c.calls,
      inputTokens: t.inputTokens + c.inputTokens,
      cachedInputTokens: t.cachedInputTokens + (c.cachedInputTokens ?? 0),
      outputTokens: t.outputTokens + c.outputTokens,
      costUsd: t.costUsd + c.costUsd,
    }),
    { calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 },
  );
}
