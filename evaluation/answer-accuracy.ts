// Scoring a reasoner's answers as VALOR's paper does: exact match for yes/no, multiple
// choice and counts; mean relative accuracy (MRA) for other numbers, the metric of the
// spatial benchmarks it reports (Omni3D-Bench and others):
//   MRA = 1/|C| * sum over θ in C of 1[ |ŷ − y| / |y| < 1 − θ ],  C = {0.50, 0.55, …, 0.95}
// so an answer within 5% of the truth scores 1, one within 50% scores 0.1, anything
// further 0. Summaries are per question type and overall, with how many programs failed
// (no answer at all) and why.

export type AnswerKind = 'yes/no' | 'choice' | 'count' | 'number' | 'text';

// 1 − θ for θ = 0.50..0.95, from integer percents so 0.3 is exactly 0.3.
const MARGINS = Array.from({ length: 10 }, (_, i) => (50 - 5 * i) / 100);
const YES = new Set(['yes', 'true', 'y']);
const NO = new Set(['no', 'false', 'n']);

/** Lower case, trimmed, outer quotes, brackets and a final period dropped; booleans as yes/no. */
export function normalizeAnswer(v: unknown): string {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  let s = String(v ?? '')
    .trim()
    .toLowerCase();
  s = s.replace(/^["'([{]+|["')\]}.]+$/g, '').trim();
  if (YES.has(s)) return 'yes';
  if (NO.has(s)) return 'no';
  return s;
}

/** A number from an answer ("3", "3.5 m", 2), or null. */
export function numberOf(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  const m = /-?\d+(?:\.\d+)?(?:e-?\d+)?/i.exec(String(v ?? ''));
  return m ? Number(m[0]) : null;
}

/**
 * A benchmark's declared answer type (Omni3D-Bench's `answer_type`): int is a count (exact
 * match), float a number (MRA), str by the answer's shape. Our own kinds are taken as they are.
 */
export type DeclaredAnswerType = 'int' | 'float' | 'str' | AnswerKind;

/** The kind of a ground-truth answer, which decides how it is scored: the declared type, else its shape. */
export function answerKind(truth: unknown, questionType?: string, declared?: DeclaredAnswerType): AnswerKind {
  if (declared === 'int') return 'count';
  if (declared === 'float') return 'number';
  if (declared && declared !== 'str') return declared;
  const t = normalizeAnswer(truth);
  if (t === 'yes' || t === 'no') return 'yes/no';
  if (/^[a-e]$/.test(t)) return 'choice';
  const n = numberOf(truth);
  if (n !== null && String(truth).trim() !== '' && /^-?\d+(\.\d+)?$/.test(t)) {
    return Number.isInteger(n) && (questionType === 'count' || questionType === 'counting' || !t.includes('.')) ? 'count' : 'number';
  }
  return 'text';
}

/** MRA of a numeric prediction; 0 when either is not a number (a truth of 0 needs an exact 0). */
export function meanRelativeAccuracy(pred: number | null, truth: number | null): number {
  if (pred === null || truth === null || !Number.isFinite(pred) || !Number.isFinite(truth)) return 0;
  if (truth === 0) return pred === 0 ? 1 : 0;
  const rel = Math.abs(pred - truth) / Math.abs(truth);
  return MARGINS.filter((margin) => rel < margin).length / MARGINS.length;
}

/** One answer's score in [0, 1] by the kind of its truth. */
export function scoreAnswer(pred: unknown, truth: unknown, questionType?: string, declared?: DeclaredAnswerType): { kind: AnswerKind; score: number } {
  const kind = answerKind(truth, questionType, declared);
  if (kind === 'number') return { kind, score: meanRelativeAccuracy(numberOf(pred), numberOf(truth)) };
  if (kind === 'count') return { kind, score: numberOf(pred) === numberOf(truth) ? 1 : 0 };
  return { kind, score: normalizeAnswer(pred) === normalizeAnswer(truth) ? 1 : 0 };
}

export interface ScoredAnswer {
  questionType: string;
  kind: AnswerKind;
  score: number;
  /** Why the program gave no answer (error, timeout, tool budget), when it gave none. */
  failure?: string;
}

export interface AccuracyGroup {
  questions: number;
  /** Mean score (exact match or MRA), failed programs counting 0. */
  accuracy: number;
  failed: number;
}

export interface AccuracySummary {
  overall: AccuracyGroup;
  byType: Record<string, AccuracyGroup>;
  /** Failed programs by reason (ids, numbers and quotes blanked), most frequent first. */
  failures: Array<{ reason: string; count: number }>;
}

export function summarizeAnswers(scored: ScoredAnswer[]): AccuracySummary {
  const group = (xs: ScoredAnswer[]): AccuracyGroup => ({
    questions: xs.length,
    accuracy: xs.length ? xs.reduce((s, x) => s + x.score, 0) / xs.length : 0,
    failed: xs.filter((x) => x.failure !== undefined).length,
  });
  const types = [...new Set(scored.map((s) => s.questionType))].sort();
  const reasons = new Map<string, number>();
  for (const s of scored) {
    if (s.failure === undefined) continue;
    const r = s.failure.replace(/'[^']*'|"[^"]*"/g, "'…'").replace(/\d+(\.\d+)?/g, 'N');
    reasons.set(r, (reasons.get(r) ?? 0) + 1);
  }
  return {
    overall: group(scored),
    byType: Object.fromEntries(types.map((t) => [t, group(scored.filter((s) => s.questionType === t))])),
    failures: [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count),
  };
}
