// The reward endpoint's exchange on an EmbeddedRuntime: rollouts are produced to the
// rollouts topic, the runtime is run until idle (one run at a time: two concurrent runs
// would process the same offsets twice), and the reward records and dead letters written
// since the last look are handed to whoever waits for them.
//
// The embedded log keeps every record in memory, so a long training run grows this
// process; run the endpoint on Kafka for that.
import { errorMessage, ValidationError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { silentLogger } from '../../core/logger';
import { nodeProvider } from '../../models/llm/llm-node-config';
import { rewardConfig } from '../../processors/reward';
import type { DeadLetter, ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import { PipelineDownError, RewardExchange, RewardTopics, RewardWaiters, rewardTopics, ScoreOptions } from './reward-exchange';
import type { EmbeddedRuntime } from '../../runtime/embedded/embedded-runtime';

const RETRY_AFTER_FAILURE_MS = 5_000;

export interface EmbeddedRewardExchangeOptions {
  /** Defaults to the topics of the runtime topology's 'reward' node. */
  topics?: RewardTopics;
  /** Extra health check, e.g. the judge's circuit breaker: a reason when down, else null. */
  down?: () => string | null;
  logger?: Logger;
}

export class EmbeddedRewardExchange implements RewardExchange {
  private readonly topics: RewardTopics;
  private readonly waiters = new RewardWaiters();
  /** Next offset to look at, per topic and partition. */
  private readonly readFrom = new Map<string, number[]>();
  private queue: Promise<void> = Promise.resolve();
  /** Set when a run failed; cleared by the next one that succeeds. */
  private failure: string | null = null;
  private closed = false;
  private readonly logger: Logger;

  constructor(
    private readonly runtime: EmbeddedRuntime,
    private readonly opts: EmbeddedRewardExchangeOptions = {},
  ) {
    this.topics = opts.topics ?? rewardTopics(runtime.topology);
    this.logger = opts.logger ?? silentLogger;
  }

  down(): string | null {
    if (this.closed) return 'the reward endpoint is shutting down';
    return this.failure ?? this.opts.down?.() ?? null;
  }

  async score(rollouts: ReasoningRollout[], opts: ScoreOptions): Promise<RewardRecord[]> {
    const reason = this.down();
    if (reason) throw new PipelineDownError(reason);
    const waiter = this.waiters.wait(rollouts, opts);
    try {
      await this.runtime.produce(
        this.topics.rollouts,
        rollouts.map((r) => ({ key: r.groupId, value: r })),
      );
    } catch (err) {
      waiter.abort(
        err instanceof ValidationError ? err : new PipelineDownError(`the embedded pipeline cannot take rollouts: ${errorMessage(err)}`, { cause: err }),
      );
    }
    void this.pump();
    return waiter.promise;
  }

  /** Queues one run of the runtime after the ones already queued. */
  private pump(): Promise<void> {
    this.queue = this.queue.then(() => this.runOnce());
    return this.queue;
  }

  private async runOnce(): Promise<void> {
    if (this.closed) return;
    try {
      await this.runtime.runUntilIdle();
      this.failure = null;
      await this.collect();
    } catch (err) {
      this.failure = `the embedded pipeline failed: ${errorMessage(err)}`;
      this.logger.error({ err }, 'embedded reward pipeline run failed');
      this.waiters.failAll(new PipelineDownError(this.failure, { cause: err }));
      // Requests are refused while down, so nothing else would try again.
      setTimeout(() => void this.pump(), RETRY_AFTER_FAILURE_MS).unref();
    }
  }

  /** Hands records written since the last look to the waiters. */
  private async collect(): Promise<void> {
    const rewards = this.runtime.serdes.for<RewardRecord>(this.topics.rewards);
    for (const e of this.newEntries(this.topics.rewards)) {
      // Keyed by group id: skip the decode for groups nobody waits for.
      if (e.key && !this.waiters.wantsGroup(e.key.toString('utf8'))) continue;
      this.waiters.deliver(await rewards.decode(e.value));
    }
    const dls = this.runtime.serdes.for<DeadLetter>(this.topics.deadLetters);
    const rollouts = this.runtime.serdes.for<ReasoningRollout>(this.topics.rollouts);
    for (const e of this.newEntries(this.topics.deadLetters)) {
      const dl = await dls.decode(e.value);
      if (dl.source.topic !== this.topics.rollouts || !dl.payload) continue;
      // The log is this process's own: the payload is the rollout as we produced it.
      const rollout = await rollouts.decode(dl.payload).catch(() => null);
      if (rollout && this.waiters.isWaitingFor(rollout.id)) this.waiters.fail(rollout.id, `${dl.node}: ${dl.reason}`);
    }
  }

  private *newEntries(topic: string) {
    const log = this.runtime.log;
    let from = this.readFrom.get(topic);
    if (!from) this.readFrom.set(topic, (from = []));
    for (let p = 0; p < log.partitions(topic); p++) {
      const start = from[p] ?? 0;
      const entries = log.read(topic, p, start, Number.MAX_SAFE_INTEGER);
      from[p] = start + entries.length;
      yield* entries;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.waiters.failAll(new PipelineDownError('the reward endpoint is shutting down'));
    await this.queue.catch(() => undefined);
  }
}

/**
 * A `down` check for the judge of a reward node running in `runtime`: down while its
 * circuit breaker is open. Providers are shared per (parsed) config within the runtime's
 * resources, so this is the node's own provider, created here first if the node has not
 * started yet.
 */
export function judgeBreakerDown(runtime: EmbeddedRuntime, rewardNodeConfig: unknown, logger?: Logger): () => string | null {
  const c = rewardConfig.parse(rewardNodeConfig ?? {});
  const judge = nodeProvider(runtime.resources, c, logger);
  return () => (judge.state === 'open' ? `the reward judge ${judge.kind}/${judge.model} is down (circuit breaker open)` : null);
}
