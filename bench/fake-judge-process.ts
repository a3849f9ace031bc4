// Runs the fake Vertex AI (Gemini) server as the reward judges in a child process, so a
// benchmark measures the reward node and the endpoint, not the fake's HTTP handling. Every
// judge answers 1 after the given latency. Started with child_process.fork(file,
// [latencyMs]); sends {baseURL}.
import { FakeGeminiServer } from '../test/fakes/fake-gemini-server';

async function main(): Promise<void> {
  const latencyMs = Number(process.argv[2] ?? 0);
  const server = new FakeGeminiServer({ oracle: () => 'The plan and the program agree.\n<answer>1</answer>', faults: { latencyMs } });
  const baseURL = await server.start();
  process.send!({ baseURL });
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
