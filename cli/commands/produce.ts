import * as path from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../../core/logger';
import { intakeLimits, produceCorpus } from '../../connectors/corpus/corpus-source';
import { countLines } from '../../connectors/corpus/corpus-reader';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { KafkaRecordWriter } from '../../runtime/kafka/kafka-record-writer';
import { configFrom, corpusTopics, serdesFrom, topologyFrom, withCommon } from '../context';
import { progress } from '../progress';

/** Adds `produce` (a corpus to Kafka) to the program. */
export function registerProduceCommand(program: Command): Command {
  return withCommon(program.command('produce'))
    .description('produce image-query events from a JSONL corpus file or directory to Kafka')
    .requiredOption('--corpus <path>', 'JSONL file or directory of *.jsonl')
    .option('--corpus-name <name>', 'corpus name stamped on every event')
    .action(async (opts) => {
      const config = configFrom(opts);
      const topology = topologyFrom(config);
      // One clear line within seconds when no broker listens, before kafkajs starts retrying.
      await checkBrokerReachable(config.kafka, brokerSource(opts.config));
      const logger = createLogger('valor-stream');
      const kafka = createKafka(config.kafka, logger);
      await ensureTopics(kafka, topology);
      const writer = new KafkaRecordWriter(kafka, serdesFrom(config, topology));
      const topics = corpusTopics(topology);
      const bar = progress('produce', await countLines(opts.corpus));
      try {
        const r = await produceCorpus(opts.corpus, writer, topics, {
          // The first node's text limits: the corpus refuses what it would, no more.
          ...intakeLimits(topology),
          corpusName: opts.corpusName ?? path.basename(opts.corpus).replace(/\.jsonl$/, ''),
          onProgress: (n) => bar.update(n),
        });
        bar.stop();
        console.log(`produced ${r.produced} events to ${topics.imageQueries}; ${r.deadLettered} bad lines to ${topics.deadLetters}`);
      } finally {
        await writer.close();
      }
    });
}
