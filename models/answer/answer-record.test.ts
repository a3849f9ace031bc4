// How a sandbox run becomes an answer record: status, answer text, tool calls (capped), usage.
import { lineageOf } from '../../core/lineage';
import type { ImageQuery } from '../../schemas/generated/types';
import type { SandboxResult } from '../reward/python-sandbox';
import { answerRecord, answerText, MAX_LISTED_CALLS, statusOf } from './answer-record';
import { emptyUsage, normalizeVqaAnswer } from './answer-tools';

const run = (over: Partial<SandboxResult>): SandboxResult => ({ ok: true, score: 1, reason: 'ok', phase: 'run', durationMs: 12, ...over });
const query: ImageQuery = {
  id: 'q1',
  corpus: 'c',
  image: { uri: 'a.png', bytes: null, sha256: null, width: null, height: null, mediaType: null },
  question: 'How many?',
  phrases: [],
  program: null,
  metadata: { split: 'val' },
  createdAt: 0,
  lineage: lineageOf('test', []),
};
const meta = { id: 'ans-1', createdAt: 5, lineage: lineageOf('answer', ['q1']) };

describe('answer records', () => {
  it('names how a run ended', () => {
    expect(statusOf(run({}))).toBe('ANSWERED');
    expect(statusOf(run({ ok: false, score: 0, reason: 'ToolError at line 3: gd_detect: tool-call budget of 5 calls spent', toolBudgetExceeded: true }))).toBe(
      'TOOL_BUDGET',
    );
    // A budget spent and then a loop until the wall clock: the budget is the cause.
    expect(statusOf(run({ ok: false, score: 0, phase: 'limits', reason: 'timeout: exceeded 100 ms', toolBudgetExceeded: true }))).toBe('TOOL_BUDGET');
    expect(statusOf(run({ ok: false, score: 0, phase: 'limits', reason: 'timeout: exceeded 100 ms wall clock' }))).toBe('TIMEOUT');
    expect(statusOf(run({ ok: false, score: 0, phase: 'limits', reason: 'cpu limit: killed by SIGXCPU' }))).toBe('TIMEOUT');
    expect(statusOf(run({ ok: false, score: 0, phase: 'limits', reason: 'MemoryError at line 1: ' }))).toBe('FAILED');
    expect(statusOf(run({ ok: false, score: 0, phase: 'parse', reason: 'SyntaxError at line 1: invalid syntax' }))).toBe('FAILED');
  });

  it('gives a string answer as it is, anything else as JSON, else the repr', () => {
    expect(answerText(run({ finalAnswerValue: 'yes', finalAnswer: "'yes'" }))).toEqual({ answer: 'yes', answerJson: '"yes"' });
    expect(answerText(run({ finalAnswerValue: 3, finalAnswer: '3' }))).toEqual({ answer: '3', answerJson: '3' });
    expect(answerText(run({ finalAnswerValue: undefined, finalAnswer: '{1, 2}' }))).toEqual({ answer: '{1, 2}', answerJson: null });
    expect(answerText(run({ ok: false }))).toEqual({ answer: null, answerJson: null });
  });

  it('lists tool calls up to its cap and counts the rest, and adds the planner to the usage', () => {
    const calls = Array.from({ length: MAX_LISTED_CALLS + 3 }, (_, i) => ({ tool: 'gd_detect', args: ['img', `p${i}`], result: [], latencyMs: 1.6 }));
    const usage = { ...emptyUsage(), calls: 2, inputTokens: 100, outputTokens: 4, costUsd: 0.001 };
    const r = answerRecord(
      query,
      {
        source: 'PLANNER',
        program: '<answer>x</answer>',
        plannerCostUsd: 0.002,
        plannerUsage: { inputTokens: 50, outputTokens: 20, cachedInputTokens: 10 },
        run: run({ toolCalls: calls, finalAnswerValue: 2 }),
      },
      usage,
      meta,
    );
    expect(r.toolCalls).toHaveLength(MAX_LISTED_CALLS);
    expect(r.toolCallsTruncated).toBe(3);
    expect(r.toolCalls[0]).toEqual({ tool: 'gd_detect', argsJson: '["img","p0"]', resultJson: '[]', error: null, latencyMs: 2 });
    expect(r.usage).toEqual({ calls: 3, inputTokens: 150, cachedInputTokens: 10, outputTokens: 24, costUsd: 0.003 });
    expect(r).toMatchObject({ status: 'ANSWERED', answer: '2', programSource: 'PLANNER', metadata: { split: 'val' }, runMs: 12 });
  });

  it('says why there was no run', () => {
    const r = answerRecord(query, { source: 'NONE', program: null, plannerCostUsd: 0, plannerUsage: null, error: 'no planner' }, emptyUsage(), meta);
    expect(r).toMatchObject({ status: 'NO_PROGRAM', error: 'no planner', answer: null, toolCalls: [], runMs: 0 });
  });

  it("normalises vqa's answer as VALOR does", () => {
    expect(normalizeVqaAnswer(' Yes.\n')).toBe('yes');
    expect(normalizeVqaAnswer('Red,')).toBe('red');
    expect(normalizeVqaAnswer('3.5')).toBe('3.5');
  });
});
