import type { Command } from 'commander';
import { createLogger } from '../../core/logger';
import { EmbeddedRuntime } from '../../runtime/embedded/embedded-runtime';
import { createKafka } from '../../runtime/kafka/kafka-client';
import { brokerSource, checkBrokerReachable } from '../../runtime/kafka/broker-preflight';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { EmbeddedRewardExchange, judgeBreakerDown } from '../../connectors/reward-endpoint/embedded-reward-exchange';
import { KafkaRewardExchange } from '../../connectors/reward-endpoint/kafka-reward-exchange';
import { RewardExchange, rewardTopics } from '../../connectors/reward-endpoint/reward-exchange';
import { RewardServer } from '../../connectors/reward-endpoint/reward-server';
import { rewardGroupConfig } from '../../processors/reward-group';
import { configFrom, serdesFrom, topologyFrom, withCommon } from '../context';
import { stopOnSignals } from '../signals';
import { startMetrics, withMetricsOptions } from '../metrics-options';
import { sharedProviders } from '../../models/llm/shared-providers';

/** Adds `serve-rewards` (POST /get_reward) to the program. */
export function registerServeRewardsCommand(program: Command): Command {
  return withMetricsOptions(withCommon(program.command('serve-rewards')))
    .description(
      "POST /get_reward for trainers (OpenRLHF remote reward model): rollouts in, their rewards and components out; groups a prompt's samples across requests",
    )
    .option(
      '--embedded',
      'score in this process on the embedded log (no broker, no group records); otherwise on Kafka, scored by `run --only reward,reward-group`',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on', '8000')
    .option('--timeout-ms <ms>', 'how long a request waits for its reward records (then 504)', '120000')
    .option('--max-body-mb <n>', 'larger request bodies get 413', '32')
    .option(
      '--group-size <n>',
      "the trainer's samples per prompt: smaller requests of a prompt are grouped across requests into groups of n; 1 groups per request (default: rewardEndpoint.groupSize, 8)",
    )
    .option('--run-id <id>', 'group and rollout ids of groups across requests derive from it (default: rewardEndpoint.runId, else fresh per start)')
    .action(async (opts) => {
      const config = configFrom(opts, [
        [['rewardEndpoint', 'groupSize'], opts.groupSize === undefined ? undefined : Number(opts.groupSize)],
        [['rewardEndpoint', 'runId'], opts.runId],
      ]);
      const logger = createLogger('valor-stream');
      // Besides the endpoint's own /metrics: the embedded runtime's node metrics and /ready.
      const metrics = await startMetrics(opts, { command: 'serve-rewards' });
      let exchange: RewardExchange;
      // The embedded runtime lives in this process: stopping closes its processors and providers.
      let closeRuntime = async (): Promise<void> => undefined;
      if (opts.embedded) {
        // One partition: the embedded runtime steps partitions one after another, so one
        // partition keeps a whole batch in work at once.
        const topology = topologyFrom(config, 1);
        const runtime = new EmbeddedRuntime(topology, { logger, only: ['reward'], metrics: metrics?.metrics });
        exchange = new EmbeddedRewardExchange(runtime, { logger, down: judgeBreakerDown(runtime, config.nodes.reward, logger) });
        metrics?.watchBreakers(sharedProviders(runtime.resources));
        closeRuntime = () => runtime.close();
      } else {
        const topology = topologyFrom(config);
        await checkBrokerReachable(config.kafka, brokerSource(opts.config));
        const kafka = createKafka(config.kafka, logger);
        await ensureTopics(kafka, topology);
        const serdes = serdesFrom(config, topology);
        exchange = await KafkaRewardExchange.start({
          kafka,
          serdes,
          topics: rewardTopics(topology),
          logger,
          rewardGroupId: `${config.delivery.groupPrefix}.reward`,
        });
      }
      // A group open across requests takes members as long as the reward-group node waits for them.
      const groupNode = rewardGroupConfig.parse(config.nodes['reward-group'] ?? {});
      const { groupSize, runId } = config.rewardEndpoint;
      const grouping = { groupSize, runId, windowMs: groupNode.timeoutMs, rememberMs: Math.max(groupNode.retainMs, groupNode.timeoutMs) };
      const server = new RewardServer({
        exchange,
        host: opts.host,
        port: Number(opts.port),
        timeoutMs: Number(opts.timeoutMs),
        maxBodyBytes: Number(opts.maxBodyMb) * 2 ** 20,
        logger,
        grouping,
      });
      const url = await server.start();
      metrics?.metrics.ready.probe('reward-endpoint:pipeline', () => {
        const down = exchange.down();
        return { ok: down === null, reason: down ?? undefined };
      });
      metrics?.started();
      stopOnSignals(logger, 'closing the reward endpoint', async () => {
        metrics?.stopping();
        await Promise.all([server.close(), exchange.close()]);
        await closeRuntime();
        await metrics?.close();
      });
      console.log(`reward endpoint: POST ${url}/get_reward (${opts.embedded ? 'embedded' : 'kafka'}); GET ${url}/healthz, ${url}/metrics`);
      console.log(
        groupSize > 1
          ? `groups: ${groupSize} samples per prompt across requests (--group-size; match the trainer's samples per prompt), run id ${server.grouper!.runId}`
          : 'groups: per request (--group-size 1)',
      );
      const down = exchange.down();
      if (down) logger.warn({ reason: down }, 'the endpoint answers 503 until this clears');
    });
}
