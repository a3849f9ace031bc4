// `valor-stream review`: the review page over a dataset directory's merged training set. People
// accept, reject, relabel and draw boxes; each action is a HumanVerdict appended to
// <dataset>/human-verdicts.jsonl, which the sink's next rebuild (or `export odvg`) applies.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { createLogger, type Logger } from '../../core/logger';
import { HUMAN_VERDICTS_FILE } from '../../connectors/review/human-verdicts';
import { MERGED_FILE } from '../../connectors/sinks/odvg-merge';
import { startReviewServer, type ReviewServer, type ReviewServerOptions } from '../../connectors/review/review-server';
import { configFrom, serdesFrom, topologyFrom } from '../context';
import { kafkaVerdictMirror } from '../../connectors/review/kafka-verdicts';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { stopOnSignals } from '../signals';

export interface ReviewOpts {
  dataset?: string;
  config?: string;
  host: string;
  port: string;
  token?: string;
  reviewer?: string;
  /** Also produce each verdict to the human-verdicts topic (valor.human-verdicts). */
  kafka?: boolean;
}

/** Where the demo puts its dataset (`make demo`). */
export const DEMO_DATASET = path.join('out', 'demo', 'odvg');

/** --dataset, else the config's sinks.odvg.dir when it has a merged set, else the demo's. */
export function reviewDataset(opts: Pick<ReviewOpts, 'dataset' | 'config'>): string {
  if (opts.dataset) return path.resolve(opts.dataset);
  const configured = configFrom({ config: opts.config }).sinks.odvg.dir;
  for (const dir of [configured, DEMO_DATASET]) if (fs.existsSync(path.join(dir, MERGED_FILE))) return path.resolve(dir);
  throw new Error(`no dataset to review: neither ${configured} (sinks.odvg.dir) nor ${DEMO_DATASET} has ${MERGED_FILE}; pass --dataset DIR`);
}

/**
 * Where each verdict goes besides the dataset's log. The `--kafka` mirror to the
 * valor.human-verdicts topic plugs in here (kafkaVerdictMirror in
 * connectors/review/kafka-verdicts.ts, with a close for its producer).
 */
async function verdictMirror(opts: ReviewOpts, logger: Logger): Promise<{ onVerdict?: ReviewServerOptions['onVerdict']; close(): Promise<void> }> {
  if (!opts.kafka) return { close: async () => undefined };
  const config = configFrom({ config: opts.config });
  await checkBrokerReachable(config.kafka, brokerSource(opts.config));
  const topology = topologyFrom(config);
  const kafka = createKafka(config.kafka, logger);
  const topic = topology.topics.find((t) => t.type === 'HumanVerdict')!;
  await ensureTopics(kafka, { ...topology, topics: [topic] });
  const writer = new KafkaRecordWriter(kafka, serdesFrom(config, topology));
  return { onVerdict: kafkaVerdictMirror(writer, topic.name), close: () => writer.close() };
}

/** Starts the server for the options; the caller stops it. */
export async function runReview(opts: ReviewOpts, logger: Logger): Promise<{ server: ReviewServer; datasetDir: string; stop(): Promise<void> }> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected 0..65535, got '${opts.port}'`);
  const datasetDir = reviewDataset(opts);
  const mirror = await verdictMirror(opts, logger);
  let server: ReviewServer;
  try {
    server = await startReviewServer({
      datasetDir,
      host: opts.host,
      port,
      token: opts.token ?? process.env.VALOR_REVIEW_TOKEN,
      reviewer: opts.reviewer,
      onVerdict: mirror.onVerdict,
      logger,
    });
  } catch (err) {
    await mirror.close();
    throw err;
  }
  return {
    server,
    datasetDir,
    stop: async () => {
      await server.close();
      await mirror.close();
    },
  };
}

/** Adds `review` to the program. `stopOn` is for tests (default: stop on SIGINT/SIGTERM). */
export function registerReviewCommand(program: Command, deps: { stopOn?: (stop: () => Promise<void>) => void } = {}): Command {
  return program
    .command('review')
    .description('review the merged ODVG training set in the browser: accept, reject, relabel, draw boxes (logged as human verdicts)')
    .option('--dataset <dir>', `the ODVG dataset root (default: sinks.odvg.dir if it has ${MERGED_FILE}, else ${DEMO_DATASET})`)
    .option('-c, --config <file>', 'JSON config file (for sinks.odvg.dir)')
    .option('--host <host>', 'address to bind; anything but loopback needs --token', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', '8686')
    .option('--token <token>', 'require this token on every request (default: env VALOR_REVIEW_TOKEN)')
    .option('--reviewer <name>', 'who the verdicts are by (default: the OS user name)')
    .option('--kafka', 'also produce each verdict to the human-verdicts topic (Avro through the registry), for other consumers')
    .action(async (opts: ReviewOpts) => {
      const logger = createLogger('valor-stream');
      const { server, datasetDir, stop } = await runReview(opts, logger);
      (deps.stopOn ?? ((s) => void stopOnSignals(logger, 'closing the review server', s)))(stop);
      const token = opts.token ?? process.env.VALOR_REVIEW_TOKEN;
      console.log(`review page: ${server.url}${token ? `?token=${encodeURIComponent(token)}` : ''}`);
      console.log(
        `verdicts go to ${path.join(datasetDir, HUMAN_VERDICTS_FILE)}${opts.kafka ? ' and the human-verdicts topic' : ''}; the sink's next rebuild and every \`export\` apply them`,
      );
      console.log('Ctrl-C stops the server');
    });
}
