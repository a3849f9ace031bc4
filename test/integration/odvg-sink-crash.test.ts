// The ODVG sink under SIGKILL: while 5,000 pseudo-labels stream in, the sink process is
// killed at random moments at least 10 times and restarted. The finished shards must then
// hold exactly 5,000 unique records, every line must parse, every box must lie inside its
// image, every label id must map to its category, and Open-GroundingDino's loader logic
// (test/fixtures/odvg_loader_check.py) must accept the dataset.
import { ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { pseudoLabelsFromCorpus } from '../fixtures/pseudo-labels';
import { ROOT, runId, services, startCli, testKafka, testRegistry, testTopicNames } from './services';

jest.setTimeout(900_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lines(dir: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
}

describe('ODVG sink crash safety on the real broker', () => {
  it('holds exactly 5,000 valid records after 10+ SIGKILLs of the sink', async () => {
    const id = runId();
    const { bootstrap, registryUrl } = services();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'it-odvg-crash-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(work, 'corpus'), count: 40, seed: 8 });
    const out = path.join(work, 'odvg');
    const topics = testTopicNames(id);
    const topology = valorTopology({ topics, partitions: 3 });
    const cfgFile = path.join(work, 'config.json');
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        runtime: 'kafka',
        partitions: 3,
        topics,
        kafka: { brokers: [bootstrap] },
        registry: { url: registryUrl },
        delivery: { groupPrefix: `g.${id}`, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 },
        sinks: { odvg: { dir: out, labelTopic: `it.${id}.labels`, rotation: { maxRecords: 150 }, images: { allowedRoots: [work] } } },
      }),
    );
    const kafka = testKafka();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(testRegistry(), (t) => topicByName(topology, t).type);

    const N = 5000;
    const labels = pseudoLabelsFromCorpus(corpus.groundTruthFile, N);
    const producing = (async () => {
      const writer = new KafkaRecordWriter(kafka, serdes);
      for (let i = 0; i < N; i += 100) {
        await writer.write(
          topics.pseudoLabels,
          labels.slice(i, i + 100).map((v) => ({ key: v.queryId, value: v })),
        );
        await sleep(900);
      }
      await writer.close();
    })();

    // Logs go to a file, shown if the test fails.
    const start = (extra: string[] = []): ChildProcess =>
      startCli(['sink', 'odvg', '--config', cfgFile, ...extra], { logLevel: 'info', stdout: fs.openSync(path.join(work, 'sink.log'), 'a') });
    const kills: number[] = [];
    const progressAtKill: number[] = [];
    for (let k = 0; k < 10; k++) {
      const child = start();
      // A restarted member gets its partitions only once the killed one's session (6 s) has
      // expired, so each life is long enough to be assigned and write for a while.
      const wait = 7000 + Math.floor(Math.random() * 4000);
      await sleep(wait);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      kills.push(wait);
      progressAtKill.push(lines(path.join(out, 'shards'), '.jsonl').length);
    }
    await producing;
    const logFile = path.join(work, 'sink.log');
    // The last run exports what the topic holds, publishes it and exits by itself.
    const final = start(['--stop-at-end']);
    const shards = path.join(out, 'shards');
    const code = await new Promise((r) => final.once('exit', r));
    process.stderr.write(
      `odvg sink crash test: killed after ${kills.join(', ')} ms, with ${progressAtKill.join(', ')} records in finished shards; clean exit ${String(code)}\n`,
    );
    // The kills must have landed while records were being written, not all before or after.
    expect(progressAtKill.some((n) => n > 0 && n < N)).toBe(true);
    expect(code).toBe(0);

    const written = lines(shards, '.jsonl').map(
      (l) =>
        JSON.parse(l) as {
          filename: string;
          width: number;
          height: number;
          detection: { instances: Array<{ bbox: number[]; label: number; category: string }> };
        },
    );
    const temps = fs.readdirSync(shards).filter((f) => f.endsWith('.tmp'));
    if (temps.length)
      process.stderr.write(
        fs
          .readFileSync(logFile, 'utf8')
          .split('\n')
          .filter((l) => !l.includes('kafkajs'))
          .slice(-30)
          .join('\n') + '\n',
      );
    expect(temps).toEqual([]);
    const keys = new Set(written.map((r) => `${r.filename}|${JSON.stringify(r.detection.instances.map((i) => i.bbox))}`));
    expect(written.length).toBe(N);
    expect(keys.size).toBe(N);
    const labelMap = JSON.parse(fs.readFileSync(path.join(out, 'label_map.json'), 'utf8')) as Record<string, string>;
    for (const r of written) {
      for (const inst of r.detection.instances) {
        const [x1, y1, x2, y2] = inst.bbox as [number, number, number, number];
        expect(x1 >= 0 && y1 >= 0 && x2 <= r.width - 1 && y2 <= r.height - 1 && x1 < x2 && y1 < y2).toBe(true);
        expect(labelMap[String(inst.label)]).toBe(inst.category);
      }
    }
    const check = JSON.parse(
      execFileSync('python3', [path.join(ROOT, 'test', 'fixtures', 'odvg_loader_check.py'), path.join(out, 'dataset.json')], { encoding: 'utf8' }),
    );
    // The training set holds one record per image (the merged set); every pseudo-label is in the shards once.
    expect(check).toMatchObject({ ok: true, records: 40, images: 40 });
    const manifest = JSON.parse(fs.readFileSync(path.join(shards, 'manifest.json'), 'utf8'));
    expect(manifest.shards.reduce((s: number, x: { records: number }) => s + x.records, 0)).toBe(N);
    fs.rmSync(work, { recursive: true, force: true });
  });
});
