// The whole reasoner path on the synthetic corpus: every query's program (the event's, else
// the planner's, from the fake OpenAI-compatible server) runs in the sandbox against the
// simulated detector at inference thresholds, and the answers are scored against the ground
// truth. Each question type's answer follows from the boxes, so each must reach 0.9.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoPlanner } from '../cli/demo-provider';
import { readCorpus } from '../connectors/corpus/corpus-reader';
import { toImageQuery } from '../connectors/corpus/corpus-source';
import { fixedClock } from '../core/clock';
import { AnswerEvaluator } from '../evaluation/answer-eval';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import type { Answer, ImageQuery } from '../schemas/generated/types';
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { valorTopology } from '../topology/valor-topology';

jest.setTimeout(300_000);

describe('answer node on the synthetic corpus', () => {
  let dir: string;
  let server: FakeOpenAIServer;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'answer-acc-'));
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers every deterministic question type with accuracy >= 0.9, programs from the events and the planner', async () => {
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 60, seed: 3 });
    const queries: ImageQuery[] = [];
    for await (const item of readCorpus(corpus.corpusFile)) if (item.ok) queries.push(toImageQuery(item.event, 'synthetic', fixedClock(0)));
    const planned: string[] = [];
    const planner = demoPlanner(corpus.groundTruthFile);
    server = new FakeOpenAIServer({
      oracle: (req) => {
        planned.push(req.text);
        return planner(req) ?? 'not a planner request';
      },
    });
    const baseURL = await server.start();
    process.env.ANSWER_ACC_KEY = 'k';
    const topology = valorTopology({
      partitions: 2,
      nodeConfig: {
        detect: { kind: 'simulated', groundTruth: corpus.groundTruthFile, images: { allowedRoots: [dir] } },
        answer: {
          planner: { provider: { kind: 'openai-compatible', model: 'VALOR-8B', baseURL, apiKeyEnv: 'ANSWER_ACC_KEY' } },
          images: { allowedRoots: [dir] },
        },
      },
    });
    const driver = new TopologyTestDriver(topology, { only: ['answer'] });
    let answers: Answer[];
    try {
      await driver.pipe('valor.image-queries', queries);
      answers = (await driver.readAll<Answer>('valor.answers')).map((r) => r.value);
      expect(await driver.deadLetters()).toEqual([]);
    } finally {
      await driver.close();
    }
    expect(answers).toHaveLength(60);
    // The detector the node used is the detect node's, at the method's inference thresholds.
    expect(answers[0]!.lineage.versions).toMatchObject({ 'detector.kind': 'simulated', 'detector.boxThreshold': '0.35', 'detector.textThreshold': '0.25' });
    const sources = answers.map((a) => a.programSource);
    expect(sources.filter((s) => s === 'EVENT')).toHaveLength(queries.filter((q) => q.program).length);
    expect(sources.filter((s) => s === 'PLANNER')).toHaveLength(queries.filter((q) => !q.program).length);
    expect(planned.length).toBe(queries.filter((q) => !q.program).length);

    const evaluator = AnswerEvaluator.fromGroundTruthFile(corpus.groundTruthFile);
    for (const a of answers) evaluator.add(a);
    const s = evaluator.summary();
    const types = Object.keys(s.byType);
    // Every kind of question the corpus asks is there, counting included.
    expect(types).toEqual(expect.arrayContaining(['count', 'larger']));
    expect(types.length).toBeGreaterThanOrEqual(5);
    const below = types.filter((t) => !(s.byType[t]!.accuracy >= 0.9)).map((t) => `${t}: ${s.byType[t]!.accuracy} of n=${s.byType[t]!.n}`);
    expect(below).toEqual([]);
    expect(s.overall.failed).toBe(0);
    // The answers came from the tools: every program called gd_detect and read its boxes.
    expect(answers.every((a) => a.toolCalls.length >= 1 && a.toolCalls[0]!.tool === 'gd_detect' && a.toolCalls[0]!.error === null)).toBe(true);
  });
});
