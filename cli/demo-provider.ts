// The demo's stand-in for a hosted VLM: the fake OpenAI server (real HTTP on 127.0.0.1, the
// wire format the openai SDK speaks) answering from an oracle that knows the synthetic
// corpus's ground truth. The verify node talks to it exactly as it would to OpenAI.
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { VerifierOracle } from '../test/fakes/verifier-oracle';
import { demoJudgeAnswer } from './demo-rewards';

// Not a secret: the fake server accepts any key, and the real SDK insists on one.
const DEMO_KEY_ENV = 'VALOR_DEMO_API_KEY';

export async function startDemoProvider(
  groundTruthFile: string,
  latencyMs = 0,
  errorRate = 0,
): Promise<{ verifyConfig: Record<string, unknown>; close(): Promise<void> }> {
  const oracle = await VerifierOracle.fromGroundTruth(groundTruthFile, { errorRate });
  // One server plays both models: the reward judges (loop 2) and the verifier (loop 1).
  const server = new FakeOpenAIServer({ oracle: (req) => demoJudgeAnswer(req) ?? oracle.answer(req), faults: { latencyMs } });
  const baseURL = await server.start();
  process.env[DEMO_KEY_ENV] ??= 'demo-key';
  return {
    verifyConfig: { provider: { kind: 'openai-responses', model: 'gpt-5-mini', baseURL, apiKeyEnv: DEMO_KEY_ENV } },
    close: () => server.close(),
  };
}
