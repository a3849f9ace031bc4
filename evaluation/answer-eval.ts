// How well the answer node answers: its Answer records (the answers topic, or a JSONL dump
// of it) scored against a corpus's ground truth, per question type and overall, with why
// the programs that gave no answer failed. Scoring is answer-accuracy.ts's: exact match for
// yes/no, choices and counts, MRA for other numbers.
import * as fs from 'node:fs';
import { base64AsBytes } from '../core/json-bytes';
import type { Answer } from '../schemas/generated/types';
import { answerKind, scoreAnswer, summarizeAnswers, type DeclaredAnswerType, type ScoredAnswer } from './answer-accuracy';

export interface TruthAnswer {
  answer: string;
  questionType: string;
  /** How to score it when the benchmark says (Omni3D-Bench's int/float/str); else by the answer's shape. */
  answerType?: DeclaredAnswerType;
}

const DECLARED = new Set<string>(['int', 'float', 'str', 'yes/no', 'choice', 'count', 'number', 'text']);

export interface AnswerGroup {
  /** Queries of this type that have an Answer record. */
  n: number;
  /** Of those, the ones whose program set final_answer (status ANSWERED). */
  answered: number;
  /** Mean score over `n`: a query without an answer scores 0. */
  accuracy: number;
  /** How the type's answers are scored: 'exact match', 'MRA' or both when its answers mix. */
  scoring: string;
  failed: number;
  /** Queries of this type in the ground truth with no Answer record at all. */
  missing: number;
}

export interface AnswerEvalSummary {
  byType: Record<string, AnswerGroup>;
  overall: AnswerGroup;
  /** Queries without an answer, by status (FAILED, TIMEOUT, TOOL_BUDGET, NO_PROGRAM). */
  failuresByStatus: Record<string, number>;
  /** The five commonest failure reasons: status and the error's first line, numbers and quotes blanked. */
  topErrors: Array<{ reason: string; count: number }>;
  /** Answer records read, including those a later record for the same query replaced. */
  records: number;
  replaced: number;
  /** Queries answered that the ground truth does not know. */
  unknown: number;
}

const ERROR_CHARS = 120;
const TOP_ERRORS = 5;

/** The first line of an error, at most ERROR_CHARS characters. */
export function errorHead(error: string | null | undefined): string {
  const line = (error ?? '').split('\n', 1)[0]!.trim();
  return line.length > ERROR_CHARS ? `${line.slice(0, ERROR_CHARS - 1)}…` : line;
}

/** The prediction of an answer: its text, else its JSON value. */
function predictionOf(a: Answer): unknown {
  if (a.answer !== null && a.answer !== undefined) return a.answer;
  if (a.answerJson) {
    try {
      return JSON.parse(a.answerJson);
    } catch {
      return a.answerJson;
    }
  }
  return null;
}

export class AnswerEvaluator {
  private readonly latest = new Map<string, Answer>();
  private records = 0;

  constructor(private readonly truth: ReadonlyMap<string, TruthAnswer>) {}

  /** Ground truth from a `ground-truth.jsonl` (fields id, answer, question_type on each line). */
  static fromGroundTruthFile(file: string): AnswerEvaluator {
    const truth = new Map<string, TruthAnswer>();
    fs.readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (!line.trim()) return;
        const r = JSON.parse(line) as { id?: unknown; answer?: unknown; question_type?: unknown; answer_type?: unknown };
        if (typeof r.id !== 'string' || r.answer === undefined || r.answer === null || typeof r.question_type !== 'string') {
          throw new Error(`${file}:${i + 1}: a ground-truth line needs id, answer and question_type`);
        }
        if (r.answer_type !== undefined && !(typeof r.answer_type === 'string' && DECLARED.has(r.answer_type))) {
          throw new Error(`${file}:${i + 1}: answer_type must be one of ${[...DECLARED].join(', ')}; got ${JSON.stringify(r.answer_type)}`);
        }
        truth.set(r.id, {
          answer: String(r.answer),
          questionType: r.question_type,
          ...(r.answer_type ? { answerType: r.answer_type as DeclaredAnswerType } : {}),
        });
      });
    return new AnswerEvaluator(truth);
  }

  /** One Answer record; a later one for the same query replaces it (a replay answers again). */
  add(a: Answer): void {
    this.records++;
    this.latest.set(a.queryId, a);
  }

  summary(): AnswerEvalSummary {
    const scored: ScoredAnswer[] = [];
    const answered = new Map<string, number>();
    const failuresByStatus: Record<string, number> = {};
    let unknown = 0;
    for (const a of this.latest.values()) {
      const t = this.truth.get(a.queryId);
      if (!t) {
        unknown++;
        continue;
      }
      const kind = answerKind(t.answer, t.questionType, t.answerType);
      if (a.status === 'ANSWERED') {
        answered.set(t.questionType, (answered.get(t.questionType) ?? 0) + 1);
        scored.push({ questionType: t.questionType, ...scoreAnswer(predictionOf(a), t.answer, t.questionType, t.answerType) });
      } else {
        failuresByStatus[a.status] = (failuresByStatus[a.status] ?? 0) + 1;
        const head = errorHead(a.error);
        scored.push({ questionType: t.questionType, kind, score: 0, failure: head ? `${a.status}: ${head}` : a.status });
      }
    }
    const missing = new Map<string, number>();
    const kinds = new Map<string, Set<string>>();
    for (const [id, t] of this.truth) {
      kinds.set(
        t.questionType,
        (kinds.get(t.questionType) ?? new Set()).add(answerKind(t.answer, t.questionType, t.answerType) === 'number' ? 'MRA' : 'exact match'),
      );
      if (!this.latest.has(id)) missing.set(t.questionType, (missing.get(t.questionType) ?? 0) + 1);
    }
    const s = summarizeAnswers(scored);
    const scoring = (types: string[]) => {
      const all = new Set(types.flatMap((t) => [...(kinds.get(t) ?? [])]));
      return ['exact match', 'MRA'].filter((k) => all.has(k)).join(' + ') || 'exact match';
    };
    const sum = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
    // Types with no answer yet still get a line, so missing answers show where they are.
    const types = [...new Set([...Object.keys(s.byType), ...missing.keys()])].sort();
    const byType = Object.fromEntries(
      types.map((type): [string, AnswerGroup] => {
        const g = s.byType[type] ?? { questions: 0, accuracy: 0, failed: 0 };
        const group = { n: g.questions, answered: answered.get(type) ?? 0, accuracy: g.accuracy, failed: g.failed, missing: missing.get(type) ?? 0 };
        return [type, { ...group, scoring: scoring([type]) }];
      }),
    );
    return {
      byType,
      overall: {
        n: s.overall.questions,
        answered: sum(answered),
        accuracy: s.overall.accuracy,
        scoring: scoring(types),
        failed: s.overall.failed,
        missing: sum(missing),
      },
      failuresByStatus,
      topErrors: s.failures.slice(0, TOP_ERRORS),
      records: this.records,
      replaced: this.records - this.latest.size,
      unknown,
    };
  }
}

/** A printable table: one line per question type, the overall line, failures and their reasons. */
export function formatAnswerEval(s: AnswerEvalSummary): string {
  const names = [...Object.keys(s.byType), 'overall'];
  const width = Math.max(...names.map((n) => n.length));
  const nWidth = Math.max(...[...Object.values(s.byType), s.overall].map((g) => String(g.n).length));
  const line = (name: string, g: AnswerGroup) =>
    `${name.padEnd(width)}  n=${String(g.n).padEnd(nWidth)}  accuracy ${g.accuracy.toFixed(3)} (${g.scoring})  failed ${g.failed}  missing ${g.missing}`;
  const statuses = Object.entries(s.failuresByStatus).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const lines = [
    `answers: ${s.records} record(s) for ${s.records - s.replaced} query(ies), ${s.replaced} replaced by a later answer; ${s.unknown} not in the ground truth`,
    ...Object.entries(s.byType).map(([type, g]) => line(type, g)),
    line('overall', s.overall),
    `failures by status: ${statuses.length ? statuses.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`,
  ];
  if (s.topErrors.length) lines.push('commonest failure reasons:', ...s.topErrors.map((e) => `  ${String(e.count).padStart(4)}  ${e.reason}`));
  return lines.join('\n');
}

/**
 * Answer records from a JSONL file: one Answer per line, or the lines of a topic dump
 * (`<out>/topics/valor.answers.jsonl`: {key, partition, offset, value}) or of `tail`
 * ({topic, partition, offset, timestamp, key, value}). Bytes spelled {base64} come back as
 * Buffers; tombstones (a null value) are skipped.
 */
export function readAnswersJsonl(file: string): Answer[] {
  const out: Answer[] = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let v: unknown;
      try {
        v = JSON.parse(line, base64AsBytes);
      } catch (err) {
        throw new Error(`${file}:${i + 1}: not JSON: ${(err as Error).message}`, { cause: err });
      }
      if (v && typeof v === 'object' && !('queryId' in v) && 'value' in v) v = (v as { value: unknown }).value;
      if (v === null) return;
      const a = v as Partial<Answer> | undefined;
      if (!a || typeof a !== 'object' || typeof a.queryId !== 'string' || typeof a.status !== 'string') {
        throw new Error(`${file}:${i + 1}: not an Answer record (needs queryId and status)`);
      }
      out.push(a as Answer);
    });
  return out;
}
