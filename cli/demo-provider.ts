// The demo's stand-in for a hosted VLM: the fake OpenAI server (real HTTP on 127.0.0.1, the
// wire format the openai SDK speaks) answering from an oracle that knows the synthetic
// corpus's ground truth. The verify node talks to it exactly as it would to OpenAI.
import { FakeOpenAIServer, type FakeModelRequest } from '../test/fakes/fake-openai-server';
import { VerifierOracle } from '../test/fakes/verifier-oracle';
import { readGroundTruth } from '../evaluation/label-quality';
import { demoJudgeAnswer } from './demo-rewards';

// Not a secret: the fake server accepts any key, and the real SDK insists on one.
const DEMO_KEY_ENV = 'VALOR_DEMO_API_KEY';

/**
 * The demo's reasoning LLM: for a question of the synthetic corpus, the program written for
 * it (ground-truth.jsonl's `program`), as a planner model that knows the task would write it.
 */
export function demoPlanner(groundTruthFile: string): (req: FakeModelRequest) => string | null {
  const programs = new Map([...readGroundTruth(groundTruthFile).values()].map((t) => [t.question, t.program]));
  return (req) => {
    // vqa: the synthetic programs never ask, and this stand-in knows boxes, not answers.
    if (/^You answer a question about an image/.test(req.instructions ?? '')) return 'unknown';
    if (!/You plan visual reasoning/.test(req.instructions ?? '')) return null;
    return programs.get(req.text.trim()) ?? '<plan>1. Nothing to do.</plan><answer>\nfinal_answer = "unknown"\n</answer>';
  };
}

export async function startDemoProvider(
  groundTruthFile: string,
  latencyMs = 0,
  errorRate = 0,
): Promise<{ verifyConfig: Record<string, unknown>; plannerConfig: Record<string, unknown>; close(): Promise<void> }> {
  const oracle = await VerifierOracle.fromGroundTruth(groundTruthFile, { errorRate });
  const planner = demoPlanner(groundTruthFile);
  // One server plays every model: the planner and vqa (the reasoner), the reward judges
  // (loop 2) and the verifier (loop 1).
  const server = new FakeOpenAIServer({ oracle: (req) => planner(req) ?? demoJudgeAnswer(req) ?? oracle.answer(req), faults: { latencyMs } });
  const baseURL = await server.start();
  process.env[DEMO_KEY_ENV] ??= 'demo-key';
  return {
    verifyConfig: { provider: { kind: 'openai-responses', model: 'gpt-5-mini', baseURL, apiKeyEnv: DEMO_KEY_ENV } },
    // A reasoning LLM on an OpenAI-compatible server (vLLM serving VALOR-8B, in real life).
    plannerConfig: { provider: { kind: 'openai-compatible', model: 'VALOR-8B', baseURL, apiKeyEnv: DEMO_KEY_ENV } },
    close: () => server.close(),
  };
}
