// ODVG sink figures: records/s and MB/s written with images (shard lines + content-addressed
// image files, fsync and atomic rename per shard), through the embedded log and through
// Kafka; and the time to recover after a kill on a 1 GB output (list, drop temps, read
// metas, rebuild the manifest). Prints `name: value unit` lines.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { EmbeddedRuntime } from '../runtime/embedded/embedded-runtime';
import { ensureTopics } from '../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../runtime/kafka/kafka-record-writer';
import { ConfluentRegistry } from '../runtime/registry/confluent-registry';
import { SerdeSet } from '../runtime/serde/topic-serde';
import { runEmbeddedSink } from '../connectors/sinks/embedded-sink';
import { KafkaSinkRunner } from '../connectors/sinks/kafka-sink-runner';
import { FileLabelRegistry, KafkaLabelRegistry } from '../connectors/sinks/label-registry';
import { OdvgFormat } from '../connectors/sinks/odvg-format';
import { PartitionSink } from '../connectors/sinks/partition-sink';
import { LocalFileStorage } from '../connectors/sinks/shard-storage';
import { writeManifest } from '../connectors/sinks/shard-manifest';
import { PartitionShardWriter } from '../connectors/sinks/shard-writer';
import { silentLogger } from '../core/logger';
import { imageIntakeConfig } from '../models/images/image-intake';
import type { PseudoLabel } from '../schemas/generated/types';
import { pseudoLabelsFromCorpus } from '../test/fixtures/pseudo-labels';
import { topicByName } from '../topology/topology';
import { valorTopology } from '../topology/valor-topology';

const RECORDS = Number(process.env.BENCH_SINK_RECORDS ?? 4000);
const IMAGES = Number(process.env.BENCH_SINK_IMAGES ?? 400);
const RECOVERY_GB = Number(process.env.BENCH_SINK_RECOVERY_GB ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bytesUnder(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? bytesUnder(p) : fs.statSync(p).size;
  }
  return n;
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sink-'));
  const corpus = await generateSyntheticCorpus({ outDir: path.join(work, 'corpus'), count: IMAGES, seed: 2 });
  const labels = pseudoLabelsFromCorpus(corpus.groundTruthFile, RECORDS);
  const images = imageIntakeConfig.parse({ allowedRoots: [work] });
  const report = (name: string, n: number, bytes: number, secs: number) => {
    console.log(`sink_${name}_records: ${(n / secs).toFixed(0)} records/s`);
    console.log(`sink_${name}_throughput: ${(bytes / secs / 2 ** 20).toFixed(2)} MB/s (${(bytes / 2 ** 20).toFixed(1)} MB incl. ${IMAGES} images)`);
  };

  // Through the embedded log: the sink's own cost.
  {
    const rt = new EmbeddedRuntime(valorTopology({ partitions: 4 }), { only: [] });
    await rt.produce(
      'valor.pseudo-labels',
      labels.map((v) => ({ key: v.queryId, value: v })),
    );
    const dir = path.join(work, 'embedded');
    const storage = new LocalFileStorage(dir);
    const registry = await FileLabelRegistry.open(path.join(work, 'labels.log'));
    const format = new OdvgFormat({ storage, rootPath: dir, shardDir: 'shards', labels: registry, images, mode: 'od', keepNegativeOnly: true });
    const t0 = performance.now();
    const r = await runEmbeddedSink({
      runtime: rt,
      topic: 'valor.pseudo-labels',
      storage,
      shardDir: 'shards',
      format,
      rotation: { maxRecords: 500 },
      logger: silentLogger,
    });
    const secs = (performance.now() - t0) / 1000;
    if (r.written !== RECORDS) throw new Error(`embedded sink wrote ${r.written} of ${RECORDS}`);
    report('embedded', RECORDS, bytesUnder(dir), secs);
  }

  // Through Kafka: consume, decode, write, commit the hint offsets.
  if (process.env.KAFKA_BOOTSTRAP && process.env.SCHEMA_REGISTRY_URL) {
    const id = Date.now().toString(36);
    const topics = { pseudoLabels: `bench.${id}.pl`, deadLetters: `bench.${id}.dl` };
    const topology = valorTopology({ topics, partitions: 4 });
    const kafka = new Kafka({ clientId: 'bench-sink', brokers: [process.env.KAFKA_BOOTSTRAP], logLevel: logLevel.NOTHING });
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(new ConfluentRegistry(process.env.SCHEMA_REGISTRY_URL), (t) => topicByName(topology, t).type);
    const writer = new KafkaRecordWriter(kafka, serdes);
    for (let i = 0; i < RECORDS; i += 500)
      await writer.write(
        topics.pseudoLabels,
        labels.slice(i, i + 500).map((v) => ({ key: v.queryId, value: v })),
      );
    await writer.close();
    const dir = path.join(work, 'kafka');
    const storage = new LocalFileStorage(dir);
    const registry = await KafkaLabelRegistry.open(kafka, `bench.${id}.labels`, serdes.registry);
    const runner = new KafkaSinkRunner<PseudoLabel>({
      kafka,
      serdes,
      topic: topics.pseudoLabels,
      deadLetterTopic: topics.deadLetters,
      groupId: `bench.${id}.sink`,
      storage,
      shardDir: 'shards',
      format: new OdvgFormat({ storage, rootPath: dir, shardDir: 'shards', labels: registry, images, mode: 'od', keepNegativeOnly: true }),
      rotation: { maxRecords: 500 },
      logger: silentLogger,
    });
    await runner.start();
    // From the first record written: group join and label-log load are start-up, not throughput.
    while ((await runner.totals()).written === 0) await sleep(10);
    const t0 = performance.now();
    while ((await runner.totals()).written < RECORDS) await sleep(50);
    await runner.stop();
    const secs = (performance.now() - t0) / 1000;
    await registry.close();
    report('kafka', RECORDS, bytesUnder(dir), secs);
  }

  // Recovery after a kill on a 1 GB output: 4 partitions of finished shards plus an open
  // temp each (as a kill leaves them), then what a restarted sink does before consuming.
  {
    const dir = path.join(work, 'big');
    const storage = new LocalFileStorage(dir);
    const line = JSON.stringify({
      filename: 'images/ab/' + 'a'.repeat(64) + '.png',
      height: 600,
      width: 800,
      detection: { instances: Array.from({ length: 40 }, (_, i) => ({ bbox: [i, i, i + 50, i + 60], label: i % 16, category: 'red circle' })) },
    });
    const perPartition = Math.ceil((RECOVERY_GB * 2 ** 30) / 4 / (line.length + 1));
    const t0 = performance.now();
    const killed: PartitionShardWriter[] = []; // held so their open temps are not closed by GC
    for (let p = 0; p < 4; p++) {
      const w = await PartitionShardWriter.open({
        storage,
        dir: 'shards',
        topic: 'valor.pseudo-labels',
        partition: p,
        maxBytes: 64 * 2 ** 20,
        manifest: false,
      });
      for (let i = 0; i < perPartition; i++) await w.append(String(i), line, 0, { signature: `${p}:${i}` });
      // No close: the open shard stays a temp file, as after SIGKILL.
      killed.push(w);
    }
    const writeSecs = (performance.now() - t0) / 1000;
    const total = bytesUnder(path.join(dir, 'shards'));
    const registry = await FileLabelRegistry.open(path.join(work, 'labels.log'));
    const format = new OdvgFormat({ storage, rootPath: dir, shardDir: 'shards', labels: registry, images, mode: 'od', keepNegativeOnly: true });
    const t1 = performance.now();
    for (let p = 0; p < 4; p++) {
      await PartitionSink.open({
        storage,
        dir: 'shards',
        topic: 'valor.pseudo-labels',
        partition: p,
        format,
        deadLetter: async () => undefined,
        logger: silentLogger,
      });
    }
    await writeManifest(storage, 'shards');
    const recoverMs = performance.now() - t1;
    console.log(
      `sink_recovery_output: ${(total / 2 ** 30).toFixed(2)} GiB in ${fs.readdirSync(path.join(dir, 'shards')).filter((f) => f.endsWith('.jsonl')).length} shards (written at ${(total / writeSecs / 2 ** 20).toFixed(0)} MB/s)`,
    );
    console.log(`sink_recovery_time: ${recoverMs.toFixed(0)} ms`);
  }
  fs.rmSync(work, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
