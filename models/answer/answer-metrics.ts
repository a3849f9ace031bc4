// The answer node's Prometheus metrics (prom-client's global registry, served by every
// --metrics-port): how programs end, what their tools cost in time, so a dashboard shows a
// planner that writes broken programs or a slow VLM behind vqa.
import { sharedCounter, sharedHistogram } from '../../core/metrics';
import type { Answer } from '../../schemas/generated/types';

const SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const answers = sharedCounter('valor_answers_total', 'Answer records by how the program ended and where it came from', ['node', 'status', 'source']);
const toolCalls = sharedCounter('valor_answer_tool_calls_total', 'Tool calls of answer programs by tool and outcome (ok, error)', ['node', 'tool', 'outcome']);
const toolSeconds = sharedHistogram('valor_answer_tool_seconds', 'Latency of one tool call as the program saw it', ['node', 'tool'], SECONDS);
const runSeconds = sharedHistogram('valor_answer_run_seconds', 'Wall time of one program run, tool calls included', ['node'], SECONDS);

export function countAnswer(node: string, a: Answer): void {
  answers.inc({ node, status: a.status, source: a.programSource });
  for (const c of a.toolCalls) {
    toolCalls.inc({ node, tool: c.tool, outcome: c.error === null ? 'ok' : 'error' });
    toolSeconds.observe({ node, tool: c.tool }, c.latencyMs / 1000);
  }
  if (a.status !== 'NO_PROGRAM') runSeconds.observe({ node }, a.runMs / 1000);
}
