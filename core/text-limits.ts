// Limits on the text of an image query (question, phrases, program), checked where events
// enter: the corpus reader and the first node that reads image queries. Text that breaks
// them is dead-lettered with the field and position rather than passed on: a NUL cuts C
// strings short in tokenizers and ONNX string tensors, and an unpaired UTF-16 surrogate has
// no UTF-8 form, so an encoder would silently replace it (Buffer) or write invalid UTF-8
// (avsc's short-string path), which strict decoders in other languages refuse.
import { z } from 'zod';

/**
 * Lengths count Unicode code points (an emoji is one character), as Python counts a str.
 * The defaults:
 * - maxQuestionChars 4,000: VQA-style questions are a sentence or two (a few hundred
 *   characters at most in GQA, VQAv2, RefCOCO); 4,000 (~1,000 tokens) leaves room for long
 *   instructions while bounding what the planner and the three verifier stages pay per event.
 * - maxPhraseChars 256: GroundingDINO's text encoder reads at most 256 tokens for the whole
 *   caption, so a longer phrase could not be detected as one anyway.
 * - maxPhrases 64: the largest plan.maxPhrasesPerCall allows; more would not fit in one
 *   detect call whatever the node's setting.
 * - maxProgramChars 32,768: a program is a reasoning LLM's answer (plan and code); the
 *   planner's default 2,048 output tokens are ~8,000 characters, so this is 4x headroom.
 */
export const textLimitsSchema = z
  .object({
    maxQuestionChars: z.number().int().min(1).default(4_000),
    maxPhraseChars: z.number().int().min(1).default(256),
    maxPhrases: z.number().int().min(1).default(64),
    maxProgramChars: z.number().int().min(1).default(32_768),
  })
  .strict();
export type TextLimits = z.infer<typeof textLimitsSchema>;

export const DEFAULT_TEXT_LIMITS: Readonly<TextLimits> = Object.freeze(textLimitsSchema.parse({}));

const hex = (code: number) => `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;

/** One pass over `s`: the first NUL or unpaired surrogate (at a 0-based code point index), and the length in code points. */
function scan(s: string): { bad: string | null; chars: number } {
  let chars = 0;
  for (let i = 0; i < s.length; i++, chars++) {
    const c = s.charCodeAt(i);
    if (c === 0) return { bad: `NUL character at position ${chars}`, chars };
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return { bad: `unpaired surrogate ${hex(c)} at position ${chars}`, chars };
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return { bad: `unpaired surrogate ${hex(c)} at position ${chars}`, chars };
    }
  }
  return { bad: null, chars };
}

/** The problem of one text field, or null: a bad character first, else its length. */
export function textFieldProblem(field: string, s: string, max: number, limitKey: string): string | null {
  const { bad, chars } = scan(s);
  if (bad) return `${field}: ${bad}`;
  if (chars > max) return `${field}: ${chars} characters, more than the limit of ${max} (${limitKey})`;
  return null;
}

export interface QueryText {
  question: string;
  phrases?: readonly string[];
  program?: string | null;
}

/** At most this many problems are listed, so a dead letter's reason stays readable. */
const MAX_LISTED = 10;

/**
 * Every problem of a query's text, one string each, e.g. `phrases[2]: unpaired surrogate
 * U+D800 at position 4`. `limitsKey` is where the limits are configured (it names the key
 * in a length problem, e.g. `nodes.plan.limits`). Empty when the text is fine.
 */
export function queryTextProblems(q: QueryText, limits: TextLimits = DEFAULT_TEXT_LIMITS, limitsKey = 'limits'): string[] {
  const problems: string[] = [];
  const push = (p: string | null) => void (p && problems.push(p));
  push(textFieldProblem('question', q.question, limits.maxQuestionChars, `${limitsKey}.maxQuestionChars`));
  const phrases = q.phrases ?? [];
  if (phrases.length > limits.maxPhrases) {
    problems.push(`phrases: ${phrases.length} phrases, more than the limit of ${limits.maxPhrases} (${limitsKey}.maxPhrases)`);
  }
  phrases.forEach((p, i) => push(textFieldProblem(`phrases[${i}]`, p, limits.maxPhraseChars, `${limitsKey}.maxPhraseChars`)));
  if (q.program != null) push(textFieldProblem('program', q.program, limits.maxProgramChars, `${limitsKey}.maxProgramChars`));
  if (problems.length <= MAX_LISTED) return problems;
  return [...problems.slice(0, MAX_LISTED), `and ${problems.length - MAX_LISTED} more`];
}
