// The answer node on the real broker: programs from the planner (the fake OpenAI-compatible
// server) and from the events run against the simulated detector; the answers topic carries
// Avro that `eval answers --topic` reads back and scores; a looping program gets its record.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runEvalAnswers } from '../../cli/commands/eval-answers';
import { demoPlanner } from '../../cli/demo-provider';
import { produceCorpus } from '../../connectors/corpus/corpus-source';
import { silentLogger } from '../../core/logger';
import type { AnswerEvalSummary } from '../../evaluation/answer-eval';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import type { Answer } from '../../schemas/generated/types';
import { FakeOpenAIServer } from '../fakes/fake-openai-server';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { readTopic, runId, services, testKafka, testRegistry, testTopicNames } from './services';

jest.setTimeout(300_000);

describe('answer node on the real broker', () => {
  it('answers every query, and eval answers --topic scores them from the topic', async () => {
    const id = runId();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-answers-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 24, seed: 19 });
    fs.appendFileSync(
      corpus.corpusFile,
      JSON.stringify({
        id: 'loops',
        image: 'images/syn-000001.png',
        question: 'How many?',
        program: '<answer>\nwhile True:\n    gd_detect(img, "red circle")\n</answer>',
      }) + '\n',
    );
    const planner = demoPlanner(corpus.groundTruthFile);
    const server = new FakeOpenAIServer({ oracle: (req) => planner(req) ?? 'unexpected request' });
    const baseURL = await server.start();
    process.env.IT_ANSWERS_KEY = 'k';
    const t = (k: string) => `it.${id}.${k}`;
    const topology = valorTopology({
      partitions: 3,
      topics: testTopicNames(id),
      nodeConfig: {
        answer: {
          detector: { kind: 'simulated', groundTruth: corpus.groundTruthFile },
          planner: { provider: { kind: 'openai-compatible', model: 'VALOR-8B', baseURL, apiKeyEnv: 'IT_ANSWERS_KEY' } },
          images: { allowedRoots: [dir] },
          maxToolCalls: 8,
        },
      },
    });
    const kafka = testKafka();
    const registry = testRegistry();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(registry, (x) => topicByName(topology, x).type);
    const writer = new KafkaRecordWriter(kafka, serdes);
    await produceCorpus(corpus.corpusFile, writer, { imageQueries: t('q'), deadLetters: t('dl') });
    await writer.close();

    const runtime = new KafkaRuntime(topology, {
      kafka,
      registry,
      logger: silentLogger,
      only: ['answer'],
      config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}` }),
    });
    try {
      await runtime.start();
      const msgs = await readTopic(kafka, t('ans'), 25);
      const answers = await Promise.all(msgs.map((m) => serdes.for<Answer>(t('ans')).decode(m.value)));
      const byQuery = new Map(answers.map((a) => [a.queryId, a]));
      expect(byQuery.size).toBe(25);
      expect(byQuery.get('loops')).toMatchObject({ status: 'TOOL_BUDGET', answer: null });
      expect(byQuery.get('loops')!.error).toMatch(/tool-call budget of 8 calls spent/);
      expect(new Set(answers.map((a) => a.programSource))).toEqual(new Set(['EVENT', 'PLANNER']));
      for (const a of answers) expect(a.lineage.source?.topic).toBe(t('q'));
    } finally {
      await runtime.stop();
      await server.close();
    }

    // The evaluator reads the topic as any Confluent client would: registry ids, Avro.
    let printed = '';
    const s = services();
    const cfg = path.join(dir, 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ kafka: { brokers: [s.bootstrap] }, registry: { url: s.registryUrl } }));
    await runEvalAnswers({ groundTruth: corpus.groundTruthFile, topic: t('ans'), config: cfg, json: true }, { print: (x) => (printed = x) });
    const summary = JSON.parse(printed) as AnswerEvalSummary;
    expect(summary.unknown).toBe(1); // the looping query is not in the ground truth
    expect(summary.overall.n).toBe(24);
    expect(summary.overall.failed).toBe(0);
    for (const [type, r] of Object.entries(summary.byType)) expect({ type, accuracy: r.accuracy >= 0.9 }).toEqual({ type, accuracy: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
