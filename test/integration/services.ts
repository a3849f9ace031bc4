// Where the real broker and registry of the integration tests are: from the environment,
// else from the file `docker/local/services.sh up` writes (make test starts them).
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ConfluentRegistry } from '../../runtime/registry/confluent-registry';
import type { TopicNames } from '../../topology/topics';

export interface Services {
  bootstrap: string;
  registryUrl: string;
}

export function services(): Services {
  const envFile = path.join(process.env.VALOR_LOCAL_DIR ?? path.join(__dirname, '..', '..', '.local'), 'services.env');
  const fromFile: Record<string, string> = {};
  if (fs.existsSync(envFile)) {
    for (const line of fs.readFileSync(envFile, 'utf8').split('\n')) {
      const m = /^(?:export\s+)?([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) fromFile[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
    }
  }
  const bootstrap = process.env.KAFKA_BOOTSTRAP ?? fromFile.KAFKA_BOOTSTRAP;
  const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? fromFile.SCHEMA_REGISTRY_URL;
  if (!bootstrap || !registryUrl) {
    throw new Error('integration tests need the local broker and registry: run `make test` (or `make kafka-up` first)');
  }
  return { bootstrap, registryUrl };
}

export function testKafka(clientId = 'valor-test'): Kafka {
  return new Kafka({ clientId, brokers: [services().bootstrap], logLevel: logLevel.NOTHING });
}

export function testRegistry(): ConfluentRegistry {
  return new ConfluentRegistry(services().registryUrl);
}

/** Every topic of the valor topology, renamed `it.<id>.<short>` so a run has its own. */
export function testTopicNames(id: string): TopicNames {
  const t = (k: string) => `it.${id}.${k}`;
  return {
    imageQueries: t('q'),
    detectionRequests: t('req'),
    detectorProposals: t('prop'),
    deadLetters: t('dl'),
    verifierJudgements: t('vj'),
    pseudoLabels: t('pl'),
    reasoningRollouts: t('rr'),
    rewardRecords: t('rw'),
    rewardGroups: t('rg'),
    rewardGroupsChangelog: t('rgc'),
    verifyParkedChangelog: t('vpc'),
    rewardParkedChangelog: t('rpc'),
    humanVerdicts: t('hv'),
    answers: t('ans'),
  };
}

/** A suffix that keeps each test run's topics and groups apart on a shared broker. */
export function runId(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Reads a topic from the start with read_committed until `expected` records or timeout. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  expected: number,
  timeoutMs = 120_000,
): Promise<Array<{ key: string | null; value: Buffer | null; partition: number; offset: string }>> {
  const consumer = kafka.consumer({ groupId: `reader-${runId()}`, readUncommitted: false });
  const out: Array<{ key: string | null; value: Buffer | null; partition: number; offset: string }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      out.push({ key: message.key?.toString() ?? null, value: message.value, partition, offset: message.offset });
      if (out.length >= expected) resolveDone();
    },
  });
  const timer = setTimeout(resolveDone, timeoutMs);
  await done;
  clearTimeout(timer);
  // Linger a little to catch records beyond the expected count (duplicates).
  await new Promise((r) => setTimeout(r, 2000));
  await consumer.disconnect();
  return out;
}

/** The repository root (the CLI under test is its built `bin/valor-stream.js`). */
export const ROOT = path.join(__dirname, '..', '..');

/**
 * Starts the built CLI as its own process, configured by a config file only (the
 * services' env variables are cleared so the file decides), so a test can SIGKILL it.
 */
export function startCli(args: string[], opts: { logLevel?: string; stdout?: 'ignore' | number; stderr?: 'inherit' | number } = {}): ChildProcess {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('the CLI is not built: run `make test` (it builds first)');
  return spawn(process.execPath, [path.join(ROOT, 'bin', 'valor-stream.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, VALOR_LOG_LEVEL: opts.logLevel ?? 'warn', KAFKA_BOOTSTRAP: '', SCHEMA_REGISTRY_URL: '' },
    stdio: ['ignore', opts.stdout ?? 'ignore', opts.stderr ?? 'inherit'],
  });
}

/** `p`, or an error naming `what` once `ms` have passed: a stuck step fails at once and says which, not at jest's limit. */
export async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
