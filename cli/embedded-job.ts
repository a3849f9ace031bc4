// The main job in one process: a corpus through the topology's image-query nodes on the
// embedded log, then the ODVG sink, with progress per stage and a report of what happened.
// `run --runtime embedded`, `demo` and `label` all run this.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AppConfig } from './config';
import { createLogger, Logger } from '../core/logger';
import { EmbeddedRuntime, NodeStats } from '../runtime/embedded/embedded-runtime';
import { EmbeddedWriter } from '../runtime/embedded/embedded-writer';
import { dumpTopics } from '../runtime/embedded/topic-dump';
import { FileStoreProvider } from '../runtime/state/file-store';
import { intakeLimits, produceCorpus } from '../connectors/corpus/corpus-source';
import { countLines } from '../connectors/corpus/corpus-reader';
import { LocalFileStorage } from '../connectors/sinks/shard-storage';
import { FileLabelRegistry } from '../connectors/sinks/label-registry';
import { DATASET_FILE, LABEL_MAP_FILE } from '../connectors/sinks/odvg-format';
import { runEmbeddedSink } from '../connectors/sinks/embedded-sink';
import { readTrainEntries } from '../connectors/sinks/odvg';
import { providerTotals, sharedProviders } from '../models/llm/shared-providers';
import type { ProviderTotals } from '../models/llm/provider-metrics';
import { nodesDownstreamOf, Topology } from '../topology/topology';
import type { Answer, DeadLetter, DetectorProposals, PseudoLabel, VerifierJudgement } from '../schemas/generated/types';
import { corpusTopics, odvgFormatFrom, topologyFrom } from './context';
import { progress } from './progress';
import { stageProgress } from './stage-progress';
import type { MetricsHandle } from './metrics-options';

export interface JobOptions {
  corpus: string;
  /** Topic dumps go to `<outDir>/topics`. */
  outDir: string;
  /** Processor state (the verdict cache) and the label registry. */
  stateDir: string;
  /** Bars on stderr (default true). */
  progress?: boolean;
  logger?: Logger;
  /** Stream metrics and readiness of the run (--metrics-port); none by default. */
  metrics?: Pick<MetricsHandle, 'metrics' | 'started' | 'watchBreakers'>;
}

export interface SinkTotals {
  written: number;
  duplicates: number;
  skipped: number;
  deadLettered: number;
  shards: number;
}

export interface JobReport {
  corpus: string;
  /** Events read from the corpus, and its lines that were not valid events. */
  events: number;
  badLines: number;
  nodes: Array<{ node: string } & NodeStats>;
  deadLetters: DeadLetter[];
  proposals: DetectorProposals[];
  labels: PseudoLabel[];
  /** The answer node's answers (empty when it is not configured). */
  answers: Answer[];
  judgements: { total: number; cached: number };
  providers: ProviderTotals[];
  odvg: (SinkTotals & { dir: string; dataset: string; unchanged: boolean }) | null;
  topicsDir: string;
  /** The run's dead letters, decoded, one per line. */
  deadLetterFile: string;
  seconds: number;
}

/** A digest of the dataset's index, label map and the files it names: equal digests, same training set. */
function datasetDigest(dir: string): string | null {
  const index = path.join(dir, DATASET_FILE);
  if (!fs.existsSync(index)) return null;
  const h = createHash('sha256');
  h.update(fs.readFileSync(index));
  for (const f of [path.join(dir, LABEL_MAP_FILE), ...readTrainEntries(dir).map((e) => e.anno)]) if (fs.existsSync(f)) h.update(fs.readFileSync(f));
  return h.digest('hex');
}

/** The embedded run's pseudo-labels as ODVG shards (the same sink code as on Kafka). */
async function writeOdvg(
  config: AppConfig,
  runtime: EmbeddedRuntime,
  stateDir: string,
  logger: Logger,
  metrics?: JobOptions['metrics'],
): Promise<SinkTotals | null> {
  const topic = runtime.topology.topics.find((t) => t.type === 'PseudoLabel')?.name;
  if (!topic || !runtime.topology.nodes.some((n) => Object.values(n.outputs).includes(topic))) return null;
  const c = config.sinks.odvg;
  const storage = new LocalFileStorage(c.dir);
  const labels = await FileLabelRegistry.open(path.join(stateDir, 'labels.log'));
  try {
    const format = odvgFormatFrom(c, storage, labels, logger);
    const r = await runEmbeddedSink({
      runtime,
      topic,
      storage,
      shardDir: 'shards',
      format,
      rotation: c.rotation,
      logger,
      continueFiles: true,
      metrics: metrics?.metrics,
    });
    await format.onShardsClosed();
    return r;
  } finally {
    await labels.close();
  }
}

async function values<T>(runtime: EmbeddedRuntime, type: string): Promise<T[]> {
  const topic = runtime.topology.topics.find((t) => t.type === type)?.name;
  return topic ? (await runtime.read<T>(topic)).map((r) => r.value) : [];
}

/** The nodes a corpus run starts: those downstream of the image-query topic (not the reward loop). */
export function corpusNodes(topology: Topology): string[] {
  return nodesDownstreamOf(topology, corpusTopics(topology).imageQueries);
}

export async function runEmbeddedJob(config: AppConfig, opts: JobOptions): Promise<JobReport> {
  const t0 = Date.now();
  const topology = topologyFrom(config);
  const logger = opts.logger ?? createLogger('valor-stream');
  const only = corpusNodes(topology);
  const runtime = new EmbeddedRuntime(topology, { logger, stores: new FileStoreProvider(opts.stateDir), only, metrics: opts.metrics?.metrics });
  const showProgress = opts.progress ?? true;
  const before = datasetDigest(config.sinks.odvg.dir);
  try {
    // Models load and credentials are checked before the corpus is read: a run that cannot
    // finish says so at once, listing every node's problem.
    await runtime.start();
    opts.metrics?.watchBreakers(sharedProviders(runtime.resources));
    opts.metrics?.started();
    const total = await countLines(opts.corpus);
    const bar = showProgress ? progress('corpus', total) : null;
    const produced = await produceCorpus(opts.corpus, new EmbeddedWriter(runtime), corpusTopics(topology), {
      ...intakeLimits(topology),
      corpusName: path.basename(opts.corpus).replace(/\.jsonl$/, ''),
      onProgress: (n) => bar?.update(n),
    });
    bar?.stop();
    const stages = showProgress ? stageProgress(runtime, only) : null;
    let stats: Map<string, NodeStats>;
    try {
      stats = await runtime.runUntilIdle();
    } finally {
      stages?.stop();
    }
    const topicsDir = path.join(opts.outDir, 'topics');
    await dumpTopics(runtime, topicsDir);
    const odvg = await writeOdvg(config, runtime, opts.stateDir, logger, opts.metrics);
    const judgements = await values<VerifierJudgement>(runtime, 'VerifierJudgement');
    const report: JobReport = {
      corpus: opts.corpus,
      events: produced.produced,
      badLines: produced.deadLettered,
      nodes: [...stats].map(([node, s]) => ({ node, ...s })),
      deadLetters: await values<DeadLetter>(runtime, 'DeadLetter'),
      proposals: await values<DetectorProposals>(runtime, 'DetectorProposals'),
      labels: await values<PseudoLabel>(runtime, 'PseudoLabel'),
      answers: await values<Answer>(runtime, 'Answer'),
      judgements: { total: judgements.length, cached: judgements.filter((j) => j.cached).length },
      providers: providerTotals(runtime.resources), // close() releases the providers
      odvg: odvg && {
        ...odvg,
        dir: config.sinks.odvg.dir,
        dataset: path.join(config.sinks.odvg.dir, DATASET_FILE),
        unchanged: before !== null && before === datasetDigest(config.sinks.odvg.dir),
      },
      topicsDir,
      deadLetterFile: path.join(topicsDir, `${topology.deadLetterTopic}.jsonl`),
      seconds: (Date.now() - t0) / 1000,
    };
    return report;
  } finally {
    await runtime.close();
  }
}
