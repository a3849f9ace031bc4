// `valor-stream eval answers`: the answer node's Answer records scored against a corpus's
// ground truth, from a JSONL dump of the answers topic or from the topic itself (read
// read_committed from the beginning to its end as it was at the start, then stop).
import type { Command } from 'commander';
import { parseBrokerList, type AppConfig } from '../config';
import { ConfigError } from '../../core/errors';
import { createLogger } from '../../core/logger';
import { AnswerEvaluator, formatAnswerEval, readAnswersJsonl } from '../../evaluation/answer-eval';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { readTopicFrom } from '../../runtime/kafka/topic-reader';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import type { Answer } from '../../schemas/generated/types';
import { configFrom, registryFrom } from '../context';
import { knownTopics } from './tail';

export interface EvalAnswersOpts {
  groundTruth: string;
  answers?: string;
  topic?: string;
  brokers?: string;
  config?: string;
  json?: boolean;
}

/** What the command needs from its surroundings; tests substitute the topic reader. */
export interface EvalAnswersDeps {
  /** Every Answer on the topic, in partition order (default: the broker, as `tail` reads it). */
  readTopic?: (config: AppConfig, topic: string, configFile: string | undefined, brokersGiven: boolean) => Promise<Answer[]>;
  print?: (text: string) => void;
}

function brokerList(s: string): string[] {
  const list = parseBrokerList(s);
  if (!list.length) throw new ConfigError(`--brokers: expected host:port[,host:port...], got '${s}'`);
  return list;
}

async function readAnswersTopic(config: AppConfig, topic: string, configFile: string | undefined, brokersGiven: boolean): Promise<Answer[]> {
  // The answers topic may not be in the configured topology yet; any other known type is a mistake.
  const type = knownTopics(config).get(topic) ?? 'Answer';
  if (type !== 'Answer') throw new ConfigError(`eval answers: topic '${topic}' holds ${type} records, not Answer`);
  await checkBrokerReachable(config.kafka, brokersGiven ? 'the --brokers option' : brokerSource(configFile));
  const logger = createLogger('valor-stream', process.env.VALOR_LOG_LEVEL ?? 'warn');
  const kafka = createKafka(config.kafka, logger);
  const serde = new SerdeSet(registryFrom(config), () => 'Answer').for<Answer>(topic);
  const out: Answer[] = [];
  await readTopicFrom(kafka, topic, {
    from: { kind: 'beginning' },
    onMessage: async (_partition, m) => {
      if (m.value !== null) out.push(await serde.decode(m.value));
    },
  });
  return out;
}

/** Scores the answers and prints the table (or, with --json, the summary). */
export async function runEvalAnswers(opts: EvalAnswersOpts, deps: EvalAnswersDeps = {}): Promise<void> {
  if (Boolean(opts.answers) === Boolean(opts.topic)) throw new ConfigError('eval answers: give one of --answers <file.jsonl> or --topic <name>');
  if (opts.brokers !== undefined && !opts.topic) throw new ConfigError('eval answers: --brokers goes with --topic');
  const evaluator = AnswerEvaluator.fromGroundTruthFile(opts.groundTruth);
  let answers: Answer[];
  if (opts.answers) answers = readAnswersJsonl(opts.answers);
  else {
    const brokers = opts.brokers === undefined ? undefined : brokerList(opts.brokers);
    const config = configFrom({ config: opts.config }, [[['kafka', 'brokers'], brokers]]);
    answers = await (deps.readTopic ?? readAnswersTopic)(config, opts.topic!, opts.config, brokers !== undefined);
  }
  // Records come in partition order, and a query's records share its key's partition, so the
  // last one seen for a query is its latest answer.
  for (const a of answers) evaluator.add(a);
  const summary = evaluator.summary();
  (deps.print ?? console.log)(opts.json ? JSON.stringify(summary, null, 2) : formatAnswerEval(summary));
}

/** Adds `answers` under `eval`. */
export function registerEvalAnswersCommand(evalCommand: Command, deps: EvalAnswersDeps = {}): Command {
  return evalCommand
    .command('answers')
    .description('score Answer records (the answer node) against a ground-truth.jsonl: accuracy per question type, failures and why')
    .requiredOption('--ground-truth <file>', 'ground-truth.jsonl (fields id, answer, question_type; `corpus generate` writes one)')
    .option('--answers <file>', 'Answer records as JSON lines (one per line, or a topic dump such as <out>/topics/valor.answers.jsonl)')
    .option('--topic <name>', 'read the answers topic from the beginning to its current end instead (read_committed)')
    .option('--brokers <list>', 'with --topic: host:port[,host:port...] (default: config kafka.brokers, KAFKA_BOOTSTRAP)')
    .option('-c, --config <file>', 'JSON config file (see README: Configuration): brokers and schema registry')
    .option('--json', 'print the summary as JSON')
    .action(async (_opts: EvalAnswersOpts, cmd: Command) => {
      // `eval -c FILE answers ...` leaves -c with eval: read options from both levels.
      await runEvalAnswers(cmd.optsWithGlobals<EvalAnswersOpts>(), deps);
    });
}
