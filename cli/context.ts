// What the commands build from their options: the config, the topology, the registry
// client and the serdes. One place, so every command reads flags the same way.
import type { Command } from 'commander';
import { AppConfig, loadConfig } from './config';
import { TOPOLOGIES } from '../topology/valor-topology';
import type { Topology } from '../topology/topology';
import { ConfluentRegistry } from '../runtime/registry/confluent-registry';
import { SerdeSet, serdesFor } from '../runtime/serde/topic-serde';
import * as path from 'node:path';
import type { Logger } from '../core/logger';
import { OdvgFormat } from '../connectors/sinks/odvg-format';
import type { LabelRegistry } from '../connectors/sinks/label-registry';
import type { ShardStorage } from '../connectors/sinks/shard-storage';
import type { OdvgSinkConfig } from '../connectors/sinks/sink-config';

/** The options `withCommon` adds. */
export interface CommonOpts {
  config?: string;
  topology?: string;
  partitions?: string;
}

/** Adds the options every topology command takes: config file, topology, partitions. */
export function withCommon(c: Command): Command {
  return c
    .option('-c, --config <file>', 'JSON config file (see README: Configuration)')
    .option('--topology <name>', `topology: ${Object.keys(TOPOLOGIES).join(' | ')}`)
    .option('--partitions <n>', 'partitions per topic when topics are created');
}

/** The config: file, then environment, then these flags (and `extra` overrides). */
export function configFrom(
  opts: CommonOpts & { delivery?: string; groupPrefix?: string; runtime?: string },
  extra: Array<[string[], unknown]> = [],
): AppConfig {
  return loadConfig({
    file: opts.config,
    overrides: [
      [['topology'], opts.topology],
      [['partitions'], opts.partitions ? Number(opts.partitions) : undefined],
      [['runtime'], opts.runtime],
      [['delivery', 'delivery'], opts.delivery],
      [['delivery', 'groupPrefix'], opts.groupPrefix],
      ...extra,
    ],
  });
}

/** The configured topology; `partitions` overrides the config's (serve-rewards --embedded uses 1). */
export function topologyFrom(config: AppConfig, partitions = config.partitions): Topology {
  return TOPOLOGIES[config.topology]!({ topics: config.topics, partitions, nodeConfig: config.nodes });
}

export function registryFrom(config: AppConfig): ConfluentRegistry {
  const { url, username, password } = config.registry;
  return new ConfluentRegistry(url, username && password ? { username, password } : undefined);
}

/** The serdes of the topology's topics on the configured registry. */
export function serdesFrom(config: AppConfig, topology: Topology): SerdeSet {
  return serdesFor(topology, registryFrom(config));
}

/** The topics a corpus is fed into: the topology's ImageQuery source and its dead letters. */
export function corpusTopics(topology: Topology): { imageQueries: string; deadLetters: string } {
  const source = topology.topics.find((t) => t.source && t.type === 'ImageQuery');
  if (!source) throw new Error(`topology '${topology.name}' has no ImageQuery source topic to feed the corpus into`);
  return { imageQueries: source.name, deadLetters: topology.deadLetterTopic };
}

/** The ODVG sink's format for a dataset directory, as `sink odvg` and the embedded runs build it. */
export function odvgFormatFrom(c: OdvgSinkConfig, storage: ShardStorage, labels: LabelRegistry, logger: Logger): OdvgFormat {
  return new OdvgFormat({
    storage,
    rootPath: path.resolve(c.dir),
    shardDir: 'shards',
    labels,
    images: c.images,
    mode: c.mode,
    keepNegativeOnly: c.keepNegativeOnly,
    logger,
  });
}
