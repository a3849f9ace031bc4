import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { produceCorpus } from '../../connectors/corpus/corpus-source';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { silentLogger } from '../../core/logger';
import { writeTestDetector } from '../../models/detector/test-model';
import type { DeadLetter, DetectorProposals } from '../../schemas/generated/types';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { readTopic, runId, testKafka, testRegistry, testTopicNames } from './services';

jest.setTimeout(300_000);

describe('detection stage on the real broker', () => {
  it('proposes boxes for every request, dead-letters bad images and goes on', async () => {
    const id = runId();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-detect-'));
    const model = writeTestDetector(path.join(dir, 'model'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 40, seed: 11 });
    // Two bad events among the good ones: a truncated PNG and a path outside the allowed root.
    const good = fs.readFileSync(path.join(dir, 'corpus', 'images', 'syn-000001.png'));
    fs.writeFileSync(path.join(dir, 'corpus', 'images', 'broken.png'), good.subarray(0, 300));
    fs.appendFileSync(
      corpus.corpusFile,
      JSON.stringify({ id: 'bad-truncated', image: 'images/broken.png', question: 'Is it?', phrases: ['red circle'] }) + '\n',
    );
    fs.appendFileSync(corpus.corpusFile, JSON.stringify({ id: 'bad-outside', image: '/etc/hostname', question: 'Is it?', phrases: ['red circle'] }) + '\n');

    const t = (k: string) => `it.${id}.${k}`;
    const topology = valorTopology({
      partitions: 3,
      topics: testTopicNames(id),
      nodeConfig: {
        detect: { modelPath: model.original, tokenizerPath: model.tokenizerJson, resize: { shortSide: 128, maxSize: 213 }, images: { allowedRoots: [dir] } },
      },
    });
    const kafka = testKafka();
    const registry = testRegistry();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(registry, (x) => topicByName(topology, x).type);
    const writer = new KafkaRecordWriter(kafka, serdes);
    const produced = await produceCorpus(corpus.corpusFile, writer, { imageQueries: t('q'), deadLetters: t('dl') });
    await writer.close();
    expect(produced.produced).toBe(42);

    const runtime = new KafkaRuntime(topology, {
      kafka,
      registry,
      logger: silentLogger,
      only: ['plan', 'detect'],
      config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}` }),
    });
    await runtime.start();
    const [props, dls] = await Promise.all([readTopic(kafka, t('prop'), 40), readTopic(kafka, t('dl'), 2)]);
    await runtime.stop();

    const proposals = await Promise.all(props.map((m) => serdes.for<DetectorProposals>(t('prop')).decode(m.value)));
    expect(new Set(proposals.map((p) => p.queryId)).size).toBe(40);
    expect(proposals.filter((p) => p.boxes.length > 0).length).toBeGreaterThan(30);
    for (const p of proposals) {
      expect(p.lineage.producedBy).toBe('detect');
      expect(p.lineage.versions['detector.modelSha256']).toBe(p.detector.modelSha256);
      expect(p.lineage.source?.topic).toBe(t('req'));
    }
    const dead = await Promise.all(dls.map((m) => serdes.for<DeadLetter>(t('dl')).decode(m.value)));
    const byKey = Object.fromEntries(dead.map((d) => [d.source.key?.toString(), d]));
    expect(Object.keys(byKey).sort()).toEqual(['bad-outside', 'bad-truncated']);
    expect(byKey['bad-truncated']!.reason).toMatch(/corrupt|truncat/i);
    expect(byKey['bad-outside']!.node).toBe('detect');
  });
});
