// An answer record from what happened to one query's program: where the program came from,
// how its run ended (answered, failed, timed out, out of tool calls, never ran), every
// tool call, and what the provider calls cost.
import type { Answer, ImageQuery } from '../../schemas/generated/types';
import type { TokenUsage } from '../llm/provider';
import type { SandboxResult } from '../reward/python-sandbox';
import type { ToolCallRecord } from '../reward/sandbox-tools';
import type { ToolUsage } from './answer-tools';

export interface RunOutcome {
  source: Answer['programSource'];
  program: string | null;
  plannerCostUsd: number;
  plannerUsage: TokenUsage | null;
  /** Why there is no run (no program, planner failed). */
  error?: string;
  run?: SandboxResult;
}

// A record stays well under Kafka's 1 MB default: calls past this many are counted, not listed,
// and each call's JSON is cut.
export const MAX_LISTED_CALLS = 200;
const MAX_JSON = 4_096;

type ToolCall = Answer['toolCalls'][number];

const cut = (s: string) => (s.length > MAX_JSON ? `${s.slice(0, MAX_JSON)}…(${s.length} chars)` : s);

function json(v: unknown): string {
  try {
    return cut(JSON.stringify(v) ?? 'null');
  } catch {
    return '"(not JSON)"';
  }
}

export function toolCallOf(c: ToolCallRecord): ToolCall {
  return {
    tool: c.tool,
    argsJson: json(c.args),
    resultJson: c.error === undefined ? json(c.result) : null,
    error: c.error ?? null,
    latencyMs: Math.min(2 ** 31 - 1, Math.round(c.latencyMs)),
  };
}

/** How a run ended, as the record's status. A spent tool budget wins over the timeout it may cause. */
export function statusOf(run: SandboxResult): Answer['status'] {
  if (run.ok) return 'ANSWERED';
  if (run.toolBudgetExceeded) return 'TOOL_BUDGET';
  if (run.phase === 'limits' && /^(timeout|cpu limit)/.test(run.reason)) return 'TIMEOUT';
  return 'FAILED';
}

/** final_answer as text: a string as it is, anything else as JSON, else Python's repr. */
export function answerText(run: SandboxResult): { answer: string | null; answerJson: string | null } {
  if (!run.ok) return { answer: null, answerJson: null };
  const v = run.finalAnswerValue;
  if (v === undefined) return { answer: run.finalAnswer ?? null, answerJson: null };
  const j = JSON.stringify(v);
  return { answer: typeof v === 'string' ? v : j, answerJson: j };
}

export function answerRecord(q: ImageQuery, o: RunOutcome, tools: ToolUsage, meta: Pick<Answer, 'id' | 'createdAt' | 'lineage'>): Answer {
  const run = o.run;
  const calls = run?.toolCalls ?? [];
  const plannerCalls = o.plannerUsage ? 1 : 0;
  const usage = {
    calls: tools.calls + plannerCalls,
    inputTokens: tools.inputTokens + (o.plannerUsage?.inputTokens ?? 0),
    cachedInputTokens: tools.cachedInputTokens + (o.plannerUsage?.cachedInputTokens ?? 0),
    outputTokens: tools.outputTokens + (o.plannerUsage?.outputTokens ?? 0),
    costUsd: tools.costUsd + o.plannerCostUsd,
  };
  const status = run ? statusOf(run) : 'NO_PROGRAM';
  return {
    id: meta.id,
    queryId: q.id,
    question: q.question,
    image: q.image,
    program: o.program,
    programSource: o.source,
    status,
    ...(run ? answerText(run) : { answer: null, answerJson: null }),
    error: run ? (run.ok ? null : run.reason) : (o.error ?? null),
    toolCalls: calls.slice(0, MAX_LISTED_CALLS).map(toolCallOf),
    toolCallsTruncated: Math.max(0, calls.length - MAX_LISTED_CALLS),
    runMs: run?.durationMs ?? 0,
    usage,
    metadata: q.metadata,
    createdAt: meta.createdAt,
    lineage: meta.lineage,
  };
}
