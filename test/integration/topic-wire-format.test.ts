// Every topic, read the way another client reads it. A short end-to-end run on the real
// broker fills every topic of the valor topology (corpus -> plan -> detect -> verify, plus
// simulated proposals; the answer node; rollouts -> reward -> reward-group with its changelog; a bad corpus
// line for the dead letters) and the internal ones (the verdict cache's store topic and the
// ODVG sink's label log). Then every record of every topic, tombstones included, is read
// with read_committed and checked by a Confluent wire-format decoder written here from the
// format's definition, independent of the project's serdes (nothing from
// runtime/serde or runtime/registry is imported by this file):
// - the key is present, valid UTF-8, and does not start with byte 0;
// - the value (null only as a tombstone on a compacted topic) starts with the magic byte 0,
//   then a 4-byte big-endian schema id; the writer schema is fetched over plain HTTP from
//   GET <registry>/apis/ccompat/v7/schemas/ids/<id>, is the topic's record type, is a
//   version of the subject `<topic>-value`, and decodes the rest with avsc, exactly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as avro from 'avsc';
import type { Kafka } from 'kafkajs';
import { demoJudgeAnswer, demoRollouts } from '../../cli/demo-rewards';
import { produceCorpus } from '../../connectors/corpus/corpus-source';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../../evaluation/synthetic-proposals';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { KafkaSinkRunner } from '../../connectors/sinks/kafka-sink-runner';
import { KafkaLabelRegistry } from '../../connectors/sinks/label-registry';
import { OdvgFormat } from '../../connectors/sinks/odvg-format';
import { LocalFileStorage } from '../../connectors/sinks/shard-storage';
import { silentLogger } from '../../core/logger';
import { imageIntakeConfig } from '../../models/images/image-intake';
import { writeTestDetector } from '../../models/detector/test-model';
import type { PseudoLabel } from '../../schemas/generated/types';
import { valorTopology } from '../../topology/valor-topology';
import { FakeOpenAIServer } from '../fakes/fake-openai-server';
import { VerifierOracle } from '../fakes/verifier-oracle';
import { newVerdict } from '../../connectors/review/human-verdicts';
import { kafkaVerdictMirror } from '../../connectors/review/kafka-verdicts';
import { readTopic, runId, services, testKafka, testRegistry, testTopicNames } from './services';
import { checkTailAndStatus } from './inspect-checks';

jest.setTimeout(300_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The registry's Confluent-compatible API, whether the configured URL names it or not. */
function ccompatBase(registryUrl: string): string {
  const base = registryUrl.replace(/\/+$/, '');
  return base.endsWith('/apis/ccompat/v7') ? base : `${base}/apis/ccompat/v7`;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json' } });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A Confluent wire-format Avro decoder from the format's definition alone. */
class WireFormatDecoder {
  private readonly schemas = new Map<number, Promise<avro.Type>>();
  constructor(private readonly base: string) {}

  writerSchema(id: number): Promise<avro.Type> {
    let t = this.schemas.get(id);
    if (!t) {
      t = getJson<{ schema: string; schemaType?: string }>(`${this.base}/schemas/ids/${id}`).then((r) => {
        if (r.schemaType !== undefined && r.schemaType !== 'AVRO') throw new Error(`schema ${id} is ${r.schemaType}, not AVRO`);
        return avro.Type.forSchema(JSON.parse(r.schema));
      });
      this.schemas.set(id, t);
    }
    return t;
  }

  async decode(value: Buffer): Promise<{ schemaId: number; type: avro.Type; record: unknown }> {
    if (value.length < 5) throw new Error(`${value.length} bytes: shorter than the 5-byte header`);
    if (value[0] !== 0) throw new Error(`message does not start with magic byte (byte 0 is ${value[0]})`);
    const schemaId = value.readUInt32BE(1);
    const type = await this.writerSchema(schemaId);
    // fromBuffer refuses trailing bytes, so the schema must account for every byte.
    return { schemaId, type, record: type.fromBuffer(value.subarray(5)) };
  }

  /** Schema ids of every version of a subject. */
  async subjectIds(subject: string): Promise<Set<number>> {
    const s = encodeURIComponent(subject);
    const versions = await getJson<number[]>(`${this.base}/subjects/${s}/versions`);
    const ids = await Promise.all(versions.map(async (v) => (await getJson<{ id: number }>(`${this.base}/subjects/${s}/versions/${v}`)).id));
    return new Set(ids);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Raw {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

/**
 * Every committed record of the topics: read from the start until each topic has given at
 * least one record and then nothing has come for `idleMs` (or `capMs` has passed).
 */
async function readAll(kafka: Kafka, topics: string[], idleMs = 5_000, capMs = 120_000): Promise<Raw[]> {
  const consumer = kafka.consumer({ groupId: `wire-format-reader-${runId()}`, readUncommitted: false, allowAutoTopicCreation: false });
  const out: Raw[] = [];
  let last = Date.now();
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
    last = Date.now();
  });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      out.push({ topic, partition, offset: message.offset, key: message.key, value: message.value });
      last = Date.now();
    },
  });
  const started = Date.now();
  const allSeen = () => topics.every((t) => out.some((r) => r.topic === t));
  while (!(joined && allSeen() && Date.now() - last >= idleMs) && Date.now() - started < capMs) await sleep(250);
  await consumer.disconnect();
  return out;
}

describe('wire format of every topic', () => {
  it('every record of every topic has a UTF-8 key and a Confluent-framed Avro value another client can decode', async () => {
    const id = runId();
    const { registryUrl } = services();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-wire-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 10, seed: 31 });
    const rollouts = demoRollouts(corpus.corpusFile); // every 5th event has a program: two groups of four
    // One bad corpus line: the producer dead-letters it, so the dead-letter topic has a record.
    fs.appendFileSync(corpus.corpusFile, '{"id": "bad-line", "image": \n');
    const model = writeTestDetector(path.join(dir, 'model'));
    const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
    // One fake server plays the verifier (from the ground truth) and the reward judges.
    const server = new FakeOpenAIServer({ oracle: (req) => demoJudgeAnswer(req) ?? oracle.answer(req), faults: { latencyMs: 5 } });
    const baseURL = await server.start();
    process.env.VS_IT_WIRE_KEY = 'sk-it-wire';

    const topics = testTopicNames(id);
    const storePrefix = `it.${id}.store.`;
    const labelTopic = `it.${id}.labels`;
    const provider = { kind: 'openai-responses', baseURL, apiKeyEnv: 'VS_IT_WIRE_KEY' };
    const limits = { timeoutMs: 10_000, backoff: { initialDelayMs: 10, maxDelayMs: 100 } };
    const images = { allowedRoots: [dir] };
    const topology = valorTopology({
      partitions: 2,
      topics,
      nodeConfig: {
        detect: { modelPath: model.original, tokenizerPath: model.tokenizerJson, resize: { shortSide: 128, maxSize: 213 }, images },
        verify: { provider, limits, images },
        reward: { provider, limits, sandbox: { timeoutMs: 10_000, cpuSeconds: 3 } },
        'reward-group': { timeoutMs: 600_000, punctuateMs: 500 },
        // The reasoner fills valor.answers: programs on the events, NO_PROGRAM records for the rest.
        answer: { detector: { kind: 'simulated', groundTruth: corpus.groundTruthFile }, images },
      },
    });
    const kafka = testKafka();
    const runtime = new KafkaRuntime(topology, {
      kafka,
      registry: testRegistry(),
      logger: silentLogger,
      storeTopicPrefix: storePrefix,
      config: kafkaRuntimeSchema.parse({ groupPrefix: `g.${id}`, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 }),
    });
    let sink: KafkaSinkRunner<PseudoLabel> | undefined;
    let labels: KafkaLabelRegistry | undefined;
    let running = false;
    try {
      running = true;
      await runtime.start();
      // The producers use the runtime's serdes: the writing side is the project's own code.
      const writer = new KafkaRecordWriter(kafka, runtime.serdes);
      const produced = await produceCorpus(corpus.corpusFile, writer, { imageQueries: topics.imageQueries, deadLetters: topics.deadLetters });
      expect(produced).toEqual({ produced: 10, deadLettered: 1 });
      const simulated = simulatedProposalRecords(corpus.groundTruthFile, { seed: 5 });
      await writer.write(
        topics.detectorProposals,
        simulated.map((p) => ({ key: p.queryId, value: p })),
      );
      expect(rollouts).toHaveLength(8);
      await writer.write(
        topics.reasoningRollouts,
        rollouts.map((r) => ({ key: r.groupId, value: r })),
      );
      // A person's verdict, as the review server mirrors it to Kafka.
      const sha = simulated[0]!.image.sha256!;
      const verdict = newVerdict({
        reviewer: 'it',
        action: 'REJECT',
        imageSha256: sha,
        filename: null,
        imageWidth: simulated[0]!.imageWidth,
        imageHeight: simulated[0]!.imageHeight,
        box: { x1: 1, y1: 1, x2: 10, y2: 10, category: 'red circle' },
        newLabel: null,
        vlmDecision: 'ACCEPTED',
        rejectedAt: null,
        pseudoLabelIds: ['pl'],
        verifierVersions: ['v'],
        audit: false,
      });
      await kafkaVerdictMirror(writer, topics.humanVerdicts)(verdict);
      await writer.close();

      const expectedLabels = produced.produced + simulated.length;
      const [pl, rg, ans] = await Promise.all([
        readTopic(kafka, topics.pseudoLabels, expectedLabels),
        readTopic(kafka, topics.rewardGroups, 2),
        readTopic(kafka, topics.answers, produced.produced),
      ]);
      expect(pl.length).toBe(expectedLabels);
      expect(rg.length).toBe(2);
      expect(ans.length).toBe(produced.produced);
      running = false;
      await runtime.stop();

      // The ODVG sink fills the label log.
      const out = path.join(dir, 'odvg');
      const storage = new LocalFileStorage(out);
      labels = await KafkaLabelRegistry.open(kafka, labelTopic, testRegistry());
      sink = new KafkaSinkRunner<PseudoLabel>({
        kafka,
        serdes: runtime.serdes,
        topic: topics.pseudoLabels,
        deadLetterTopic: topics.deadLetters,
        groupId: `g.${id}.sink`,
        storage,
        shardDir: 'shards',
        format: new OdvgFormat({
          storage,
          rootPath: out,
          shardDir: 'shards',
          labels,
          images: imageIntakeConfig.parse(images),
          mode: 'od',
          keepNegativeOnly: true,
        }),
        rotation: { maxRecords: 50 },
        logger: silentLogger,
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1_000,
      });
      await sink.start();
      for (let t = 0; t < 240; t++) {
        const s = await sink.totals();
        if (s.written + s.duplicates + s.skipped + s.deadLettered >= expectedLabels) break;
        await sleep(500);
      }
      const totals = await sink.totals();
      expect(totals.written + totals.duplicates + totals.skipped + totals.deadLettered).toBe(expectedLabels);
      await sink.stop();
      sink = undefined;
      expect(labels.labels().length).toBeGreaterThan(0);
      await labels.close();
      labels = undefined;
    } finally {
      await sink?.stop().catch(() => undefined);
      await labels?.close().catch(() => undefined);
      if (running) await runtime.stop().catch(() => undefined);
      await server.close();
    }

    // Every topic: the topology's, the verdict store's and the label log.
    const expected = new Map<string, { type: string; compacted: boolean }>([
      ...topology.topics.map((t) => [t.name, { type: t.type, compacted: Boolean(t.compacted) }] as const),
      [`${storePrefix}verdicts`, { type: 'VerdictCacheEntry', compacted: true }],
      [labelTopic, { type: 'LabelLogEntry', compacted: false }],
    ]);
    expect(expected.size).toBe(14);
    const records = await readAll(kafka, [...expected.keys()]);
    const decoder = new WireFormatDecoder(ccompatBase(registryUrl));
    const problems: string[] = [];
    const counts = new Map<string, number>();
    const idsByTopic = new Map<string, Set<number>>();
    const barriers: string[] = [];
    for (const r of records) {
      const at = `${r.topic}[${r.partition}]@${r.offset}`;
      const spec = expected.get(r.topic)!;
      counts.set(r.topic, (counts.get(r.topic) ?? 0) + 1);
      if (r.key === null) problems.push(`${at}: no key`);
      else if (r.key.length === 0 || r.key[0] === 0) problems.push(`${at}: key starts with byte 0 or is empty (${JSON.stringify(r.key.toString('latin1'))})`);
      else {
        try {
          const key = utf8.decode(r.key);
          if (key.startsWith('__valor.restore.')) barriers.push(key);
        } catch {
          problems.push(`${at}: key is not valid UTF-8`);
        }
      }
      if (r.value === null) {
        if (!spec.compacted) problems.push(`${at}: a null value (tombstone) on a topic that is not compacted`);
        continue;
      }
      try {
        const d = await decoder.decode(r.value);
        const name = (d.type as avro.Type & { name?: string }).name;
        if (name !== `io.valor.v1.${spec.type}`) problems.push(`${at}: written with ${name}, expected io.valor.v1.${spec.type}`);
        if (!d.type.isValid(d.record)) problems.push(`${at}: decoded value does not validate against its writer schema`);
        if (!idsByTopic.has(r.topic)) idsByTopic.set(r.topic, new Set());
        idsByTopic.get(r.topic)!.add(d.schemaId);
      } catch (err) {
        problems.push(`${at}: ${(err as Error).message}`);
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
    // Not vacuous: every topic held records, and the changelog holds the restore barriers.
    for (const topic of expected.keys()) expect([topic, (counts.get(topic) ?? 0) > 0]).toEqual([topic, true]);
    expect(barriers.length).toBeGreaterThan(0);
    // Each topic's schemas are registered under its own subject (TopicNameStrategy).
    for (const [topic, ids] of idsByTopic) {
      const registered = await decoder.subjectIds(`${topic}-value`);
      expect([topic, [...ids].filter((x) => !registered.has(x))]).toEqual([topic, []]);
    }
    console.log(
      `wire format: ${records.length} records in ${expected.size} topics decoded: ` +
        [...expected.keys()].map((t) => `${t.replace(`it.${id}.`, '')}=${counts.get(t) ?? 0}`).join(', '),
    );
    // The same topics through `tail`, and every node's group through `status`.
    await checkTailAndStatus({ dir, topics, storePrefix, labelTopic, groupPrefix: `g.${id}`, counts });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
