// Application config, validated at the boundary: a JSON file, then environment
// variables, then CLI flags. Every problem is reported at once, each at its field's path.
import * as fs from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../core/errors';
import { kafkaConnectionSchema, kafkaRuntimeSchema } from '../runtime/kafka/kafka-config';
import { topicNamesSchema } from '../topology/topics';
import { TOPOLOGIES } from '../topology/valor-topology';
import { sinksConfig } from '../connectors/sinks/sink-config';
import { imageIntakeConfig } from '../models/images/image-intake';
import { lookupProcessor } from '../processors';
import { applyImagesPolicy } from './config-images';
import { ConfigIssue, formatConfigIssues, nodeConfigIssues, zodIssues } from './config-issues';

const DEFAULT_TOPOLOGY = 'valor';

export const appConfigSchema = z
  .object({
    runtime: z.enum(['embedded', 'kafka']).default('embedded'),
    topology: z.enum(['valor', 'passthrough']).default(DEFAULT_TOPOLOGY),
    partitions: z.number().int().min(1).max(10_000).default(4),
    topics: topicNamesSchema,
    kafka: kafkaConnectionSchema.prefault({}),
    registry: z
      .object({
        url: z.string().url().default('http://127.0.0.1:38081/apis/ccompat/v7'),
        username: z.string().optional(),
        password: z.string().optional(),
      })
      .strict()
      .prefault({}),
    delivery: kafkaRuntimeSchema.prefault({}),
    /** The image policy of every stage that loads images; a stage's own `images` overrides it field by field (config-images.ts). */
    images: imageIntakeConfig.prefault({}),
    /** Per-node processor config, by node name; checked against the topology's processors by loadConfig. */
    nodes: z.record(z.string(), z.unknown()).default({}),
    /** Where the embedded runtime writes topic dumps and the sinks write shards. */
    outputDir: z.string().default('out'),
    /** File sinks: ODVG training shards and reward records. */
    sinks: sinksConfig.prefault({}),
    /** The reward endpoint (`valor-stream serve-rewards`). */
    rewardEndpoint: z
      .object({
        /**
         * The trainer's samples per prompt (OpenRLHF --rollout.n_samples_per_prompt, verl
         * rollout.n, TRL num_generations). Requests with fewer samples of a prompt, such as
         * OpenRLHF's one sample per request, are grouped across requests into groups of this
         * size; 1 keeps each request's samples of a prompt as their own group.
         */
        groupSize: z.number().int().min(1).max(4096).default(8),
        /** Group ids derive from it; default a fresh id per start of the endpoint. */
        runId: z
          .string()
          .regex(/^[\w.:-]{1,128}$/, 'letters, digits and ._:- only, at most 128')
          .optional(),
      })
      .strict()
      .prefault({}),
    /** Processor state (the verdict cache): files under `dir` when embedded, compacted topics on Kafka. */
    stores: z
      .object({
        dir: z.string().min(1).default('.valor/state'),
        topicPrefix: z.string().min(1).default('valor.store.'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type AppConfig = z.infer<typeof appConfigSchema>;

const topologyName = (raw: Record<string, unknown>) => (typeof raw.topology === 'string' ? raw.topology : DEFAULT_TOPOLOGY);

/**
 * Every problem of a raw config: the app schema's, and those of each node config against
 * its processor in the configured topology (unknown node names included), in one list.
 */
export function configIssues(raw: Record<string, unknown>): ConfigIssue[] {
  const parsed = appConfigSchema.safeParse(raw);
  const issues = parsed.success ? [] : zodIssues(parsed.error, appConfigSchema, raw);
  const name = topologyName(raw);
  // An unknown topology is already an issue above; its nodes cannot be checked. The nodes
  // config goes in too: it switches optional nodes (answer) on.
  const nodes = typeof raw.nodes === 'object' && raw.nodes !== null && !Array.isArray(raw.nodes) ? (raw.nodes as Record<string, unknown>) : undefined;
  if (Object.hasOwn(TOPOLOGIES, name)) issues.push(...nodeConfigIssues(raw.nodes ?? {}, TOPOLOGIES[name]!({ nodeConfig: nodes }), lookupProcessor));
  return issues;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]!] = value;
}

/** A comma-separated broker list (KAFKA_BOOTSTRAP, --brokers): trimmed, empty entries dropped. */
export function parseBrokerList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Environment variables that override config fields (set by `make kafka-up`). */
export const ENV_OVERRIDES: Record<string, { path: string[]; parse: (v: string) => unknown }> = {
  KAFKA_BOOTSTRAP: { path: ['kafka', 'brokers'], parse: (v) => parseBrokerList(v) },
  SCHEMA_REGISTRY_URL: { path: ['registry', 'url'], parse: (v) => v },
  SCHEMA_REGISTRY_USERNAME: { path: ['registry', 'username'], parse: (v) => v },
  SCHEMA_REGISTRY_PASSWORD: { path: ['registry', 'password'], parse: (v) => v },
  VALOR_DELIVERY: { path: ['delivery', 'delivery'], parse: (v) => v },
  VALOR_GROUP_PREFIX: { path: ['delivery', 'groupPrefix'], parse: (v) => v },
};

export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Array<[string[], unknown]> } = {}): AppConfig {
  let raw: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = fs.readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${opts.file}: ${(err as Error).message}`);
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config file ${opts.file} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`config file ${opts.file} must hold a JSON object`);
  }
  const env = opts.env ?? process.env;
  for (const [name, { path, parse }] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v) setPath(raw, path, parse(v));
  }
  for (const [path, value] of opts.overrides ?? []) if (value !== undefined) setPath(raw, path, value);
  raw = applyImagesPolicy(raw, topologyName(raw));
  const issues = configIssues(raw);
  if (issues.length) throw new ConfigError(`invalid configuration${opts.file ? ` (${opts.file})` : ''}:\n${formatConfigIssues(issues)}`);
  return appConfigSchema.parse(raw);
}
