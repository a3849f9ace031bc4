"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
// Runs the fake OpenAI server with the ground-truth oracle in a child process, so that a
// benchmark's numbers are the verifier's own CPU, not the fake provider's image decoding.
// Started with child_process.fork(file, [groundTruthFile, latencyMs]); sends {baseURL}.
const fake_openai_server_1 = require("../test/fakes/fake-openai-server");
const verifier_oracle_1 = require("../test/fakes/verifier-oracle");
async function main() {
    const [groundTruthFile, latency] = process.argv.slice(2);
    const oracle = await verifier_oracle_1.VerifierOracle.fromGroundTruth(groundTruthFile);
    const server = new fake_openai_server_1.FakeOpenAIServer({ oracle: oracle.answer, faults: { latencyMs: Number(latency ?? 0) } });
    const baseURL = await server.start();
    process.send({ baseURL });
    process.on('disconnect', () => void server.close().then(() => process.exit(0)));
}
main().catch((err) => {
    console.error(err);
    process.exit(1);
});
//# sourceMappingURL=fake-provider-process.js.map