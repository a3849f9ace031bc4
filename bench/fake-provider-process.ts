// Runs the fake OpenAI server with the ground-truth oracle in a child process, so that a
// benchmark's numbers are the verifier's own CPU, not the fake provider's image decoding.
// Started with child_process.fork(file, [groundTruthFile, latencyMs]); sends {baseURL}.
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { VerifierOracle } from '../test/fakes/verifier-oracle';

async function main(): Promise<void> {
  const [groundTruthFile, latency] = process.argv.slice(2);
  const oracle = await VerifierOracle.fromGroundTruth(groundTruthFile!);
  const server = new FakeOpenAIServer({ oracle: oracle.answer, faults: { latencyMs: Number(latency ?? 0) } });
  const baseURL = await server.start();
  process.send!({ baseURL });
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
