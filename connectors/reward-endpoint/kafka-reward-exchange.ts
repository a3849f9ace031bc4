// The reward endpoint's exchange on Kafka: rollouts go to the rollouts topic (Avro, keyed by
// group id) and their reward records are awaited by rollout id on the reward-records topic,
// read by a consumer of this process's own (a fresh group, read_committed). The consumer
// starts at the end offsets the topics had when the exchange started, so a record written
// after that is never missed, however late the group join completes. Rollouts the reward
// node dead-letters fail at once: a dead letter names the topic, partition and offset of its
// input, which are matched against the offsets the produce returned.
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Admin, Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { errorMessage, ValidationError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { silentLogger } from '../../core/logger';
import type { DeadLetter, ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import { PipelineDownError, RewardExchange, RewardTopics, RewardWaiters, ScoreOptions } from './reward-exchange';
import type { SerdeSet } from '../../runtime/serde/topic-serde';
import { retryRetriable } from '../../runtime/kafka/kafka-admin';
import { kafkaPartition } from '../../runtime/embedded/embedded-log';

export interface KafkaRewardExchangeOptions {
  kafka: Kafka;
  serdes: SerdeSet;
  topics: RewardTopics;
  logger?: Logger;
  /** The reward node's consumer group (`<groupPrefix>.reward`): while it has no members the endpoint reports down. */
  rewardGroupId?: string;
  /** How often that group is looked at (default 5 s). */
  groupCheckMs?: number;
  /**
   * Once the group has had members, how long it may stay empty (a node restarting, a
   * rebalance) before the endpoint reports down (default 15 s). Rollouts produced meanwhile
   * wait on the topic and are scored when a node is back.
   */
  groupGraceMs?: number;
  /** Prefix of this exchange's own consumer group; a random suffix makes each start fresh. */
  groupPrefix?: string;
  /** How long start() waits for the consumer to join (default 60 s). */
  joinTimeoutMs?: number;
}

// Dead letters of rollouts whose produce has not returned yet (a fast node could beat it).
const RECENT_DEAD_LETTERS = 1000;

export class KafkaRewardExchange implements RewardExchange {
  private readonly waiters = new RewardWaiters();
  private readonly logger: Logger;
  private consumer?: Consumer;
  private producer?: Producer;
  private admin?: Admin;
  private groupTimer?: NodeJS.Timeout;
  private rolloutPartitions = 0;
  /** `<partition>/<offset>` of a produced rollout -> its id, while someone waits for it. */
  private readonly produced = new Map<string, string>();
  private readonly recentDeadLetters = new Map<string, string>();
  private started = false;
  private closed = false;
  private consumerDown: string | null = null;
  private groupDown: string | null = null;
  private groupSeenUp = false;
  private groupProblemSince: number | null = null;

  private constructor(private readonly opts: KafkaRewardExchangeOptions) {
    this.logger = (opts.logger ?? silentLogger).child({ component: 'reward-exchange' });
  }

  /** Connects, positions the consumer at the topics' current ends and waits for its group join. */
  static async start(opts: KafkaRewardExchangeOptions): Promise<KafkaRewardExchange> {
    const x = new KafkaRewardExchange(opts);
    try {
      await x.connect();
    } catch (err) {
      await x.close();
      throw err;
    }
    return x;
  }

  private async connect(): Promise<void> {
    const { kafka, topics } = this.opts;
    this.admin = kafka.admin();
    await this.admin.connect();
    const existing = new Set(await this.admin.listTopics());
    const missing = [topics.rollouts, topics.rewards, topics.deadLetters].filter((t) => !existing.has(t));
    if (missing.length) throw new Error(`topic(s) ${missing.join(', ')} do not exist: create the topology's topics first (valor-stream run does)`);
    const offsetsOf = (topic: string) => retryRetriable(`fetching the offsets of ${topic}`, () => this.admin!.fetchTopicOffsets(topic));
    this.rolloutPartitions = (await offsetsOf(topics.rollouts)).length;
    const ends = await Promise.all([topics.rewards, topics.deadLetters].map(async (topic) => ({ topic, offsets: await offsetsOf(topic) })));

    const consumer = kafka.consumer({
      groupId: `${this.opts.groupPrefix ?? 'valor.reward-endpoint'}.${randomUUID()}`,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      // A short fetch wait: a reward record should reach its waiter at once.
      maxWaitTimeInMs: 100,
    });
    this.consumer = consumer;
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    consumer.on(consumer.events.CRASH, (e) => {
      const why = errorMessage(e.payload.error);
      this.consumerDown = e.payload.restart ? `the reward-record consumer is restarting after: ${why}` : `the reward-record consumer stopped: ${why}`;
      this.logger.error({ err: e.payload.error, restart: e.payload.restart }, 'reward-record consumer crashed');
    });
    consumer.on(consumer.events.GROUP_JOIN, () => (this.consumerDown = null));
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.rewards, topics.deadLetters], fromBeginning: false });
    await consumer.run({
      partitionsConsumedConcurrently: 4,
      eachMessage: async ({ topic, message }) => this.onMessage(topic, message),
    });
    // kafkajs applies a seek at the next fetch of an assigned partition, so even if the
    // first fetch already went to the latest offset, the next rewinds to these ends. With
    // auto-commit the seek is committed: a consumer kafkajs restarts after a crash resumes there.
    for (const { topic, offsets } of ends) for (const o of offsets) consumer.seek({ topic, partition: o.partition, offset: o.high });
    const joinTimeoutMs = this.opts.joinTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      joined,
      new Promise(
        (_, reject) =>
          (timer = setTimeout(() => reject(new Error(`the reward-record consumer did not join its group within ${joinTimeoutMs} ms`)), joinTimeoutMs)),
      ),
    ]).finally(() => clearTimeout(timer));

    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await this.producer.connect();

    if (this.opts.rewardGroupId) {
      await this.checkRewardGroup();
      this.groupTimer = setInterval(() => void this.checkRewardGroup(), this.opts.groupCheckMs ?? 5_000);
      this.groupTimer.unref();
    }
    this.started = true;
  }

  /** Whether the reward node is running: its consumer group has members. */
  private async checkRewardGroup(): Promise<void> {
    const id = this.opts.rewardGroupId!;
    let problem: string | null;
    try {
      const { groups } = await this.admin!.describeGroups([id]);
      problem =
        groups[0] && groups[0].members.length > 0
          ? null
          : `no reward node is running: consumer group '${id}' has no members (start one with \`valor-stream run --runtime kafka --only reward\`)`;
    } catch (err) {
      problem = `cannot reach the Kafka cluster: ${errorMessage(err)}`;
    }
    const now = Date.now();
    if (!problem) {
      this.groupSeenUp = true;
      this.groupProblemSince = null;
      this.groupDown = null;
      return;
    }
    this.groupProblemSince ??= now;
    // Before the node was ever seen, say so at once; afterwards ride out restarts and rebalances.
    if (!this.groupSeenUp || now - this.groupProblemSince >= (this.opts.groupGraceMs ?? 15_000)) this.groupDown = problem;
  }

  down(): string | null {
    if (this.closed) return 'the reward endpoint is shutting down';
    if (!this.started) return 'the reward endpoint is starting';
    return this.consumerDown ?? this.groupDown;
  }

  async score(rollouts: ReasoningRollout[], opts: ScoreOptions): Promise<RewardRecord[]> {
    const reason = this.down();
    if (reason) throw new PipelineDownError(reason);
    const topic = this.opts.topics.rollouts;
    const mine: string[] = [];
    let settled = false;
    const waiter = this.waiters.wait(rollouts, opts, () => {
      settled = true;
      for (const k of mine) this.produced.delete(k);
    });
    try {
      const serde = this.opts.serdes.for<ReasoningRollout>(topic);
      const messages = await Promise.all(
        rollouts.map(async (r) => ({ key: r.groupId, value: await serde.encode(r), partition: this.partitionFor(topic, r.groupId) })),
      );
      const meta = await this.producer!.send({ topic, messages, acks: -1 });
      // One send appends each partition's messages as one batch, in order, from its base offset.
      const base = new Map(meta.map((m) => [m.partition, BigInt(m.baseOffset ?? '0')]));
      const next = new Map<number, bigint>();
      messages.forEach((m, i) => {
        const n = next.get(m.partition) ?? 0n;
        next.set(m.partition, n + 1n);
        const at = `${m.partition}/${base.get(m.partition)! + n}`;
        if (settled) return;
        const id = rollouts[i]!.id;
        const dead = this.recentDeadLetters.get(at);
        if (dead) return this.waiters.fail(id, dead);
        mine.push(at);
        this.produced.set(at, id);
      });
    } catch (err) {
      waiter.abort(err instanceof ValidationError ? err : new PipelineDownError(`cannot produce rollouts to ${topic}: ${errorMessage(err)}`, { cause: err }));
    }
    return waiter.promise;
  }

  private partitionFor(topic: string, key: string): number {
    return kafkaPartition(topic, key, this.rolloutPartitions);
  }

  private async onMessage(topic: string, message: KafkaMessage): Promise<void> {
    const { topics, serdes } = this.opts;
    try {
      if (topic === topics.rewards) {
        // Keyed by group id: records of groups nobody here waits for are not decoded.
        const key = message.key?.toString('utf8');
        if (key && !this.waiters.wantsGroup(key)) return;
        this.waiters.deliver(await serdes.for<RewardRecord>(topic).decode(message.value));
      } else if (topic === topics.deadLetters) {
        const dl = await serdes.for<DeadLetter>(topic).decode(message.value);
        if (dl.source.topic !== topics.rollouts) return;
        const at = `${dl.source.partition}/${dl.source.offset}`;
        const reason = `${dl.node}: ${dl.reason}`;
        const id = this.produced.get(at);
        if (id) return this.waiters.fail(id, reason);
        this.recentDeadLetters.set(at, reason);
        if (this.recentDeadLetters.size > RECENT_DEAD_LETTERS) this.recentDeadLetters.delete(this.recentDeadLetters.keys().next().value!);
      }
    } catch (err) {
      // Not ours to dead-letter: a record we cannot read only means nobody gets it here.
      this.logger.warn({ err, topic, offset: message.offset }, 'skipping a record the reward endpoint cannot decode');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.groupTimer) clearInterval(this.groupTimer);
    this.waiters.failAll(new PipelineDownError('the reward endpoint is shutting down'));
    await Promise.allSettled([this.consumer?.disconnect(), this.producer?.disconnect(), this.admin?.disconnect()]);
  }
}
