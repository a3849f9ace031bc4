// The answer node's throughput against a fake VLM (the fake OpenAI server, real HTTP and the
// real SDK) that answers after 500 ms. Each program detects two objects (the simulated
// detector), then asks vqa about the first one's crop and about the whole image, one after
// the other: two VLM latencies per program, plus a Python sandbox start. For several values
// of the VLM's concurrency limit (the node runs as many programs at once), it prints the
// programs per second next to the ideal limit / (2 calls x 500 ms).
// Prints `name: value unit` lines.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCorpus } from '../connectors/corpus/corpus-reader';
import { toImageQuery } from '../connectors/corpus/corpus-source';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { EmbeddedRuntime } from '../runtime/embedded/embedded-runtime';
import type { Answer, ImageQuery } from '../schemas/generated/types';
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { valorTopology } from '../topology/valor-topology';

const LATENCY_MS = Number(process.env.BENCH_ANSWER_LATENCY_MS ?? 500);
const LIMITS = (process.env.BENCH_ANSWER_LIMITS ?? '4,16,64').split(',').map(Number);
const IMAGES = 24;
const VQA_CALLS = 2;

const program = (a: string, b: string) => `<plan>1. Detect the ${a} and the ${b}.\n2. Ask about the ${a}.</plan><answer>
dets = gd_detect(img, "${a}, ${b}")
first = [d for d in dets if d["label"] == "${a}"]
colour = vqa(img, first[0]["bbox"], "What colour is this shape?") if first else "none"
shapes = vqa(img, None, "How many shapes are there?")
final_answer = colour + " / " + shapes
</answer>`;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-answer-'));
  const corpus = await generateSyntheticCorpus({ outDir: dir, count: IMAGES, seed: 5 });
  const base: ImageQuery[] = [];
  for await (const item of readCorpus(corpus.corpusFile)) if (item.ok) base.push(toImageQuery(item.event, 'synthetic'));
  const truth = fs
    .readFileSync(corpus.groundTruthFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; objects: Array<{ category: string }> });
  const pair = new Map(truth.map((t) => [t.id, [t.objects[0]!.category, t.objects[1]!.category] as const]));
  const server = new FakeOpenAIServer({ oracle: (req) => (req.images.length ? 'red' : 'unknown'), faults: { latencyMs: LATENCY_MS } });
  const baseURL = await server.start();
  process.env.VALOR_BENCH_KEY = 'bench';
  try {
    for (const limit of LIMITS) {
      const n = Math.max(16, 3 * limit);
      const queries = Array.from({ length: n }, (_, i) => {
        const q = base[i % base.length]!;
        const [a, b] = pair.get(q.id)!;
        return { key: `${q.id}-${limit}-${i}`, value: { ...q, id: `${q.id}-${limit}-${i}`, program: program(a, b) } };
      });
      const topology = valorTopology({
        partitions: 1,
        nodeConfig: {
          answer: {
            detector: { kind: 'simulated', groundTruth: corpus.groundTruthFile },
            // The vqa cache is off: every program pays its two calls.
            vqa: {
              provider: { kind: 'openai-responses', model: 'gpt-5-mini', baseURL, apiKeyEnv: 'VALOR_BENCH_KEY' },
              limits: { concurrency: limit, timeoutMs: 60_000 },
              cache: { enabled: false },
            },
            images: { allowedRoots: [dir] },
            concurrency: limit,
          },
        },
      });
      const runtime = new EmbeddedRuntime(topology, { only: ['answer'], chunkSize: n });
      try {
        await runtime.produce('valor.image-queries', queries);
        const t0 = performance.now();
        await runtime.runUntilIdle();
        const secs = (performance.now() - t0) / 1000;
        const answers = (await runtime.read<Answer>('valor.answers')).map((r) => r.value);
        const answered = answers.filter((a) => a.status === 'ANSWERED').length;
        const calls = answers.reduce((s, a) => s + a.usage.calls, 0);
        const rate = answers.length / secs;
        const ideal = limit / VQA_CALLS / (LATENCY_MS / 1000);
        const label = `{vlm_concurrency=${limit}}`;
        console.log(
          `answer.programs${label}: ${answers.length} programs (${answered} answered, ${(calls / Math.max(1, answers.length)).toFixed(1)} vqa calls each)`,
        );
        console.log(`answer.programs_per_s${label}: ${rate.toFixed(2)} programs/s`);
        console.log(`answer.ideal_programs_per_s${label}: ${ideal.toFixed(2)} programs/s`);
        console.log(`answer.ratio_to_ideal${label}: ${(rate / ideal).toFixed(2)}`);
        if (answered !== answers.length)
          throw new Error(`answer bench: ${answers.length - answered} programs did not answer: ${answers.find((a) => a.status !== 'ANSWERED')?.error}`);
      } finally {
        await runtime.close();
      }
    }
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
