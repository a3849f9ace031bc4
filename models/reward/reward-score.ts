// Pure pieces of the reasoning reward (method, Loop 2): splitting a rollout into plan and
// program, the format gate, reading a judge's score, and the weighted total. No I/O here,
// so the reward arithmetic is testable apart from the judges and the syntax sandbox.
import { z } from 'zod';
import { ConfigError, ValidationError } from '../../core/errors';

export interface SplitRollout {
  /** The text inside `<plan>…</plan>`, trimmed; null when the block is missing or empty. */
  plan: string | null;
  /** The program: the `<answer>` block, else the first fenced code block; null if neither. */
  program: string | null;
}

// Non-greedy, so the first block wins if the model repeats a tag.
const PLAN_BLOCK = /<plan>([\s\S]*?)<\/plan>/;
const ANSWER_BLOCK = /<answer>([\s\S]*?)<\/answer>/;
// ```python\n … ``` (any or no language tag, then a newline); the closing fence must be present.
const FENCED = /```[\w+-]*[^\S\n]*\n([\s\S]*?)```/;

const nonEmpty = (s: string | undefined): string | null => {
  const t = s?.trim();
  return t ? t : null;
};

/** Strips one code fence wrapping the whole text: models often fence the code inside `<answer>`. */
function unfence(text: string): string {
  const m = /^```[\w+-]*[^\S\n]*\n([\s\S]*?)\n?```$/.exec(text.trim());
  return m ? m[1]! : text;
}

export function splitRollout(text: string): SplitRollout {
  const plan = nonEmpty(PLAN_BLOCK.exec(text)?.[1]);
  const answer = ANSWER_BLOCK.exec(text);
  if (answer) return { plan, program: nonEmpty(unfence(answer[1]!)) };
  // Without an <answer> block the format gate fails anyway, but the syntax check and the
  // judges' diagnostics still get the code the model wrote.
  return { plan, program: nonEmpty(FENCED.exec(text)?.[1]) };
}

export interface FormatCheck extends SplitRollout {
  /** The gate passed: `plan` and `program` are then both non-null. */
  formatOk: boolean;
}

/**
 * The method's format gate on a response (never on the prompt before it): a non-empty
 * `<plan>…</plan>` block and a non-empty `<answer>…</answer>` block. An empty block fails
 * the gate like a missing one, so `formatOk` is true exactly when there is a plan and a
 * program to judge.
 */
export function checkFormat(text: string): FormatCheck {
  const split = splitRollout(text);
  return { ...split, formatOk: ANSWER_BLOCK.test(text) && split.plan !== null && split.program !== null };
}

export function formatGate(text: string): boolean {
  return checkFormat(text).formatOk;
}

export interface JudgeScore {
  score: 0 | 1;
  /** False when the answer's last `<answer>` tag is missing or holds anything but 0 or 1. */
  parsed: boolean;
}

const JUDGE_TAG = /<answer>\s*([\s\S]*?)\s*<\/answer>/g;

/**
 * The judge's verdict is its LAST `<answer>` tag: judges reason first and may quote the
 * tag while doing so, and only the final one is the score. Unparsable counts as 0.
 */
export function parseJudgeScore(text: string): JudgeScore {
  let last: string | undefined;
  for (const m of text.matchAll(JUDGE_TAG)) last = m[1];
  if (last === '1') return { score: 1, parsed: true };
  if (last === '0') return { score: 0, parsed: true };
  return { score: 0, parsed: false };
}

export const REWARD_COMPONENTS = ['logic', 'syntax', 'attributes', 'spatial', 'adherence'] as const;
export type RewardComponent = (typeof REWARD_COMPONENTS)[number];
export type RewardComponents = Record<RewardComponent, number>;

const SUM_TOLERANCE = 1e-9;
const weight = z.number().min(0, 'a weight must be >= 0').max(1, 'a weight must be <= 1');

/** The method's weights; the total of a perfect rollout is 1, so they must sum to 1. */
export const rewardWeightsSchema = z
  .object({
    logic: weight.default(0.3),
    syntax: weight.default(0.1),
    attributes: weight.default(0.2),
    spatial: weight.default(0.2),
    adherence: weight.default(0.2),
  })
  .strict()
  .superRefine((w, ctx) => {
    const sum = REWARD_COMPONENTS.reduce((s, k) => s + w[k], 0);
    if (Math.abs(sum - 1) > SUM_TOLERANCE) {
      const terms = REWARD_COMPONENTS.map((k) => `${k} ${w[k]}`).join(' + ');
      ctx.addIssue({ code: 'custom', message: `weights must sum to 1 (±${SUM_TOLERANCE}), got ${Number(sum.toPrecision(12))}: ${terms}`, path: [] });
    }
  });
export type RewardWeights = z.infer<typeof rewardWeightsSchema>;
export type RewardWeightsInput = z.input<typeof rewardWeightsSchema>;

/** Parses weights from config; ConfigError names the field (`field.logic`, or `field` for the sum). */
export function parseRewardWeights(input: unknown, field = 'weights'): RewardWeights {
  const r = rewardWeightsSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${[field, ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new ConfigError(`invalid reward weights: ${problems.join('; ')}`);
}

/** Weighted sum of the components; 0 when the format gate failed, whatever the judges said. */
export function totalReward(components: RewardComponents, weights: RewardWeights, formatOk: boolean): number {
  for (const k of REWARD_COMPONENTS) {
    const v = components[k];
    // A NaN or out-of-range component is a bug upstream; a silent total would hide it.
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      throw new ValidationError(`reward component ${k} must be a number in [0, 1], got ${String(v)}`);
    }
  }
  if (!formatOk) return 0;
  const total = REWARD_COMPONENTS.reduce((s, k) => s + weights[k] * components[k], 0);
  // Float sums like 0.3+0.1+0.2+0.2+0.2 can land a hair outside [0, 1].
  return Math.min(1, Math.max(0, total));
}
