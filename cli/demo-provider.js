"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.startDemoProvider = startDemoProvider;
// The demo's stand-in for a hosted VLM: the fake OpenAI server (real HTTP on 127.0.0.1, the
// wire format the openai SDK speaks) answering from an oracle that knows the synthetic
// corpus's ground truth. The verify node talks to it exactly as it would to OpenAI.
const fake_openai_server_1 = require("../test/fakes/fake-openai-server");
const verifier_oracle_1 = require("../test/fakes/verifier-oracle");
// Not a secret: the fake server accepts any key, and the real SDK insists on one.
const DEMO_KEY_ENV = 'VALOR_DEMO_API_KEY';
async function startDemoProvider(groundTruthFile, latencyMs = 0, errorRate = 0) {
    const oracle = await verifier_oracle_1.VerifierOracle.fromGroundTruth(groundTruthFile, { errorRate });
    const server = new fake_openai_server_1.FakeOpenAIServer({ oracle: oracle.answer, faults: { latencyMs } });
    const baseURL = await server.start();
    process.env[DEMO_KEY_ENV] ??= 'demo-key';
    return {
        verifyConfig: { provider: { kind: 'openai-responses', model: 'gpt-5-mini', baseURL, apiKeyEnv: DEMO_KEY_ENV } },
        close: () => server.close(),
    };
}
//# sourceMappingURL=demo-provider.js.map