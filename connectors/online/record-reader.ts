// Decodes and filters one fetched message for the training consumer, with its error policy:
// a decode that failed for a retriable reason (registry down) is read again later, since
// skipping would lose a good record; an undecodable record is reported and skipped; a
// filter or onError hook that throws stops the consumer rather than skipping silently.
import type { KafkaMessage } from 'kafkajs';
import { ConfigError, DecodeError, errorMessage, isRetriable } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { TopicSerde } from '../../runtime/serde/topic-serde';
import type { BufferItem } from './record-buffer';
import type { RecordInfo, TrainingConsumerOptions, TrainingConsumerStats, TrainingRecord } from './training-consumer-options';

/** Buffer the item; or read the message again after a delay; or stop the consumer with the error. */
export type ReadResult<T> = { kind: 'item'; item: BufferItem<TrainingRecord<T>> } | { kind: 'retry' } | { kind: 'fail'; error: Error };

export type ReaderOptions<T> = Pick<TrainingConsumerOptions<T>, 'serdes' | 'registry' | 'type' | 'filter' | 'onError'>;

export class RecordReader<T> {
  private readonly serde: TopicSerde<T>;
  private readonly filter?: (value: T, record: RecordInfo) => boolean;
  private readonly onError?: (error: DecodeError, record: RecordInfo) => void;

  /** Counts into `stats` (filtered, undecodable), the consumer's own counters. */
  constructor(
    topic: string,
    options: ReaderOptions<T>,
    private readonly stats: TrainingConsumerStats,
    private readonly log: Logger,
  ) {
    const { serdes, registry, type } = options;
    if (serdes) this.serde = serdes.for<T>(topic);
    else if (registry && type) this.serde = new TopicSerde<T>(topic, type, registry);
    else {
      throw new ConfigError(`invalid TrainingConsumer options for topic '${topic}': give serdes, or registry together with type (e.g. 'PseudoLabel')`);
    }
    this.filter = options.filter;
    this.onError = options.onError;
  }

  async read(message: KafkaMessage, info: RecordInfo): Promise<ReadResult<T>> {
    let value: T;
    try {
      value = await this.serde.decode(message.value ?? null);
    } catch (err) {
      if (isRetriable(err)) {
        this.log.warn({ partition: info.partition, offset: info.offset, error: errorMessage(err) }, 'decode failed for a retriable reason; retrying');
        return { kind: 'retry' };
      }
      this.stats.undecodable++;
      const error = err instanceof DecodeError ? err : new DecodeError(errorMessage(err), { cause: err });
      try {
        if (this.onError) this.onError(error, info);
        else
          this.log.warn(
            { partition: info.partition, offset: info.offset, error: error.message },
            'skipping an undecodable record (it is in the dead-letter topic upstream)',
          );
      } catch (hookErr) {
        return {
          kind: 'fail',
          error: new Error(`onError threw for ${info.topic}[${info.partition}]@${info.offset}: ${errorMessage(hookErr)}`, { cause: hookErr }),
        };
      }
      return { kind: 'item', item: { kind: 'skip', partition: info.partition, offset: info.offset } };
    }
    if (this.filter) {
      let keep: boolean;
      try {
        keep = this.filter(value, info);
      } catch (err) {
        return { kind: 'fail', error: new Error(`filter threw for ${info.topic}[${info.partition}]@${info.offset}: ${errorMessage(err)}`, { cause: err }) };
      }
      if (!keep) {
        this.stats.filtered++;
        return { kind: 'item', item: { kind: 'skip', partition: info.partition, offset: info.offset } };
      }
    }
    return { kind: 'item', item: { kind: 'record', partition: info.partition, offset: info.offset, record: { ...info, value, timestamp: message.timestamp } } };
  }
}
