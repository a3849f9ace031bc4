import type { Kafka } from 'kafkajs';
import type { Logger } from '../../core/logger';
import { Resources } from '../../core/resources';
import { lookupProcessor } from '../../processors';
import type { Topology } from '../../topology/topology';
import { nodeByName } from '../../topology/topology';
import { validateTopology, ProcessorLookup } from '../../topology/validate';
import type { RegistryClient } from '../registry/registry-client';
import { NodeWorker } from '../node-worker';
import { SerdeSet, serdesFor } from '../serde/topic-serde';
import { ensureTopics } from './kafka-admin';
import type { KafkaRuntimeConfig } from './kafka-config';
import { KafkaNodeRunner } from './kafka-node-runner';
import { KafkaStoreProvider } from './kafka-store';
import type { StreamMetrics } from '../metrics/stream-metrics';
import type { ReplayBounds } from './replay-bounds';
import type { Clock } from '../../core/clock';

export interface KafkaRuntimeOptions {
  kafka: Kafka;
  registry: RegistryClient;
  config: KafkaRuntimeConfig;
  logger: Logger;
  /** Run only these nodes; scale a node by running more processes with the same set. */
  only?: string[];
  lookup?: ProcessorLookup;
  createTopics?: boolean;
  /** Processor state (e.g. the verdict cache) lives in compacted topics `<storeTopicPrefix><name>`. */
  storeTopicPrefix?: string;
  /** Per-node metrics, readiness and consumer lag (runtime/metrics); none by default. */
  metrics?: StreamMetrics;
  /** Wall-clock time for the processors (budget windows, timestamps); the system clock by default. */
  clock?: Clock;
  /** Replay one node (`only` names it) over a bounded range under its own group, tagging its outputs. */
  replay?: ReplayBounds;
}

/** The topology on Kafka: each selected node is its own consumer group. */
export class KafkaRuntime {
  readonly runners: KafkaNodeRunner[] = [];
  readonly serdes: SerdeSet;
  readonly stores: KafkaStoreProvider;
  /** Shared by this runtime's nodes (model providers, detector sessions); closed by stop(). */
  readonly resources: Resources;
  private readonly abort = new AbortController();

  constructor(
    readonly topology: Topology,
    private readonly opts: KafkaRuntimeOptions,
  ) {
    this.serdes = serdesFor(topology, opts.registry);
    this.resources = new Resources(opts.logger);
    this.stores = new KafkaStoreProvider(opts.kafka, { topicPrefix: opts.storeTopicPrefix ?? 'valor.store.', registry: opts.registry, logger: opts.logger });
  }

  async start(): Promise<void> {
    const lookup = this.opts.lookup ?? lookupProcessor;
    const configs = validateTopology(this.topology, lookup);
    const names = this.opts.only?.length ? this.opts.only : this.topology.nodes.map((n) => n.name);
    if (this.opts.replay && names.length !== 1) throw new Error(`a replay runs exactly one node (got ${names.length}: ${names.join(', ')})`);
    const nodes = names.map((n) => nodeByName(this.topology, n));
    if (this.opts.createTopics !== false) {
      const created = await ensureTopics(this.opts.kafka, this.topology);
      if (created.length) this.opts.logger.info({ created }, 'created topics');
    }
    for (const node of nodes) {
      const worker = new NodeWorker(this.topology, node, lookup(node.processor)!, configs.get(node.name), this.serdes, {
        logger: this.opts.logger,
        signal: this.abort.signal,
        stores: this.stores,
        resources: this.resources,
        metrics: this.opts.metrics?.node(node.name),
        replayTag: this.opts.replay?.tag,
        clock: this.opts.clock,
      });
      this.runners.push(new KafkaNodeRunner(this.opts.kafka, worker, this.opts.config, this.opts.logger, this.opts.replay));
    }
    await Promise.all(this.runners.map((r) => r.start()));
    this.opts.metrics?.pollLag(this.opts.kafka, this.opts.logger);
    this.opts.logger.info({ nodes: names, delivery: this.opts.config.delivery }, 'kafka runtime started');
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.opts.metrics?.close(); // the lag poller
    await Promise.all(this.runners.map((r) => r.stop())); // each closes its node's processor
    await this.resources.closeAll();
    await this.stores.close();
  }
}
