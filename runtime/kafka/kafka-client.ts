import { Kafka, logLevel, LogEntry } from 'kafkajs';
import type { Logger } from '../../core/logger';
import type { KafkaConnection } from './kafka-config';

/** A kafkajs client whose logs go through our logger (kafkajs logs to console otherwise). */
export function createKafka(conn: KafkaConnection, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: conn.clientId,
    brokers: conn.brokers,
    ssl: conn.ssl,
    sasl: conn.sasl as never,
    connectionTimeout: conn.connectionTimeoutMs,
    requestTimeout: conn.requestTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // kafkajs logs every protocol error it is about to retry at ERROR (coordinator
        // loading, concurrent transactions...). Failures that matter reach our code as
        // exceptions and are logged there, so these stay warnings.
        if (level <= logLevel.WARN) log.warn(rest, message);
        else log.debug(rest, message);
      },
  });
}
