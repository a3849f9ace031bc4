import { Kafka, logLevel, LogEntry } from 'kafkajs';
import type { Logger } from '../../core/logger';
import type { KafkaConnection } from './kafka-config';

/**
 * kafkajs entries about an attempt it is going to retry: each failed connect ("Connection
 * error", "Connection timeout") and each entry carrying the delay of the next try
 * (retryTime: seed broker rotation, send retries, consumer restarts). Without a broker they
 * come several a second for up to 16 s. When kafkajs gives up, the failure reaches our code
 * as an exception or a consumer CRASH event, which is logged there, so these go to debug.
 */
export function isRetryNoise(entry: Pick<LogEntry, 'namespace'> & { log: { message?: string; retryTime?: unknown } }): boolean {
  if (typeof entry.log.retryTime === 'number') return true;
  return entry.namespace === 'Connection' && /^Connection (error|timeout)\b/.test(entry.log.message ?? '');
}

/**
 * A consumer's retry options that never restart it once `stopping()` holds. kafkajs restarts
 * a crashed consumer on a timer, even one whose disconnect (ours) it was in the middle of:
 * without this, a member stopped during a crash rejoins its group after stop() returned and
 * holds partitions that nobody processes (kafkajs issue #1462).
 */
export function restartUnlessStopping(stopping: () => boolean): { retries: number; restartOnFailure: () => Promise<boolean> } {
  // retries: kafkajs's consumer default, which passing `retry` at all replaces.
  return { retries: 5, restartOnFailure: async () => !stopping() };
}

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
    logCreator: () => (entry: LogEntry) => {
      const { message, ...rest } = entry.log;
      // kafkajs logs every protocol error it is about to retry at ERROR (coordinator
      // loading, concurrent transactions...). Failures that matter reach our code as
      // exceptions and are logged there, so these stay warnings, and retry noise debug.
      if (entry.level <= logLevel.WARN && !isRetryNoise(entry)) log.warn(rest, message);
      else log.debug(rest, message);
    },
  });
}
