// What a trainer sees of the training consumer: the records and batches it yields, its
// counters, and its options. training-consumer.ts re-exports these, so a trainer imports
// everything from the one module.
import type { Kafka } from 'kafkajs';
import { z } from 'zod';
import type { DecodeError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { RecordTypeName } from '../../schemas/catalog';
import type { RegistryClient } from '../../runtime/registry/registry-client';
import type { SerdeSet } from '../../runtime/serde/topic-serde';

/** Where a record sits in Kafka. */
export interface RecordInfo {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
}

/** One decoded record handed to the trainer. */
export interface TrainingRecord<T> extends RecordInfo {
  value: T;
  /** Kafka timestamp in ms since the epoch, as kafkajs gives it (a string). */
  timestamp: string;
}

/**
 * A batch of decoded records. `ack()` commits the batch's offsets (see TrainingConsumer for
 * exactly which); until then the records count against the consumer's memory bound and
 * will be redelivered if this process stops or the group rebalances.
 */
export interface Batch<T> {
  /** 1, 2, 3… per consumer, in the order the batches were yielded. */
  readonly seq: number;
  readonly records: ReadonlyArray<TrainingRecord<T>>;
  ack(): Promise<void>;
}

export interface TrainingConsumerStats {
  /** Batches yielded and the records in them. */
  batches: number;
  records: number;
  /** Batches acked, and offset commits sent for them. */
  acked: number;
  commits: number;
  /** Acks that committed nothing because a rebalance came first; those records are redelivered. */
  staleAcks: number;
  /** Records the filter rejected, and records that did not decode; both are skipped. */
  filtered: number;
  undecodable: number;
  /** Times fetching was paused because the trainer held batchSize × maxUnacked records. */
  pauses: number;
  /** Group joins, the first one included; each rebalance or restart after a crash adds one. */
  rebalances: number;
  /** The most decoded records held at once (yielded but un-acked, plus buffered). */
  maxHeld: number;
}

export const trainingConsumerSettings = z
  .object({
    topic: z.string().min(1),
    groupId: z.string().min(1),
    /** Records per batch; a batch is smaller only when maxWaitMs passes first. */
    batchSize: z.number().int().min(1).max(1_000_000).default(32),
    /** How long to wait for a full batch before yielding what there is (never an empty batch). */
    maxWaitMs: z.number().int().min(0).max(3_600_000).default(1_000),
    /** Batches the caller may hold un-acked; the generator waits for an ack beyond this. */
    maxUnacked: z.number().int().min(1).max(1_024).default(1),
    /** Where a group with no committed offset starts: the earliest retained record, or only new ones. */
    fromBeginning: z.boolean().default(true),
    sessionTimeoutMs: z.number().int().min(6_000).default(30_000),
    heartbeatIntervalMs: z.number().int().min(100).default(3_000),
    /**
     * While full, the batch handler waits this long for an ack (heartbeating) before it
     * pauses fetching and lets kafkajs's loop idle. Short enough not to stall rebalances;
     * long enough that a fast trainer never pays for a pause/resume round trip.
     */
    pauseAfterMs: z.number().int().min(0).max(10_000).default(2_000),
    /** Wait before re-reading a record whose decode failed for a retriable reason (registry down). */
    decodeRetryDelayMs: z.number().int().min(0).max(60_000).default(1_000),
  })
  .strict();
export type TrainingConsumerSettings = z.infer<typeof trainingConsumerSettings>;

export interface TrainingConsumerOptions<T> extends z.input<typeof trainingConsumerSettings> {
  kafka: Kafka;
  /** Decode with the topic's serde from this set (its type comes from the set's topic map)… */
  serdes?: SerdeSet;
  /** …or with this registry and record type. */
  registry?: RegistryClient;
  type?: RecordTypeName;
  /** Return false to skip a record (it is committed with its batch but never yielded). */
  filter?: (value: T, record: RecordInfo) => boolean;
  /** Called for each undecodable record, which is then skipped. Default: a warning in the log. */
  onError?: (error: DecodeError, record: RecordInfo) => void;
  logger?: Logger;
}
