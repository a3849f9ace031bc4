// `tail` and `status` as an operator runs them, against the topics a run filled: every topic
// decodes record for record, dead letters show their original bytes, and every node's group
// has caught up. The CLI is spawned from dist/ (built by `make test`'s setup).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { TopicNames } from '../../topology/topics';
import { services } from './services';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'valor-stream.js');

export async function checkTailAndStatus(o: {
  dir: string;
  topics: TopicNames;
  storePrefix: string;
  labelTopic: string;
  groupPrefix: string;
  /** Records per topic, as an independent reader counted them. */
  counts: Map<string, number>;
}): Promise<void> {
  const { bootstrap, registryUrl } = services();
  const config = path.join(o.dir, 'inspect.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      runtime: 'kafka',
      partitions: 2,
      topics: o.topics,
      stores: { topicPrefix: o.storePrefix },
      sinks: { odvg: { labelTopic: o.labelTopic } },
    }),
  );
  const env = { ...process.env, KAFKA_BOOTSTRAP: bootstrap, SCHEMA_REGISTRY_URL: registryUrl, VALOR_LOG_LEVEL: 'warn' };
  const cli = async (...args: string[]) => (await run('node', [BIN, ...args, '-c', config], { env, timeout: 120_000, maxBuffer: 64 << 20 })).stdout;

  for (const [topic, n] of o.counts) {
    const lines = (await cli('tail', topic, '--from-beginning'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { topic: string; value?: unknown; error?: string; payloadDecoded?: unknown });
    expect([topic, lines.length, lines.filter((l) => l.error).length]).toEqual([topic, n, 0]);
    expect(lines.every((l) => l.topic === topic && 'value' in l)).toBe(true);
    if (topic === o.topics.deadLetters) expect(lines.some((l) => l.payloadDecoded !== null)).toBe(true);
  }
  // A field filter and a count limit.
  const pl = (await cli('tail', o.topics.pseudoLabels, '--from-beginning', '-n', '2')).split('\n').filter(Boolean);
  expect(pl).toHaveLength(2);
  const dl = (await cli('tail', o.topics.deadLetters, '--from-beginning', '--where', 'node=corpus-source')).split('\n').filter(Boolean);
  expect(dl.length).toBeGreaterThan(0);

  const status = JSON.parse(await cli('status', '--json', '--group-prefix', o.groupPrefix)) as {
    nodes: Array<{ node: string; lag: number; partitions: unknown[] }>;
    deadLetters: Array<{ node: string; count: number }>;
  };
  expect(status.nodes.map((n) => n.node)).toEqual(['plan', 'detect', 'verify', 'reward', 'reward-group']);
  for (const n of status.nodes) expect([n.node, n.lag]).toEqual([n.node, 0]);
  expect(status.deadLetters.some((g) => g.node === 'corpus-source' && g.count >= 1)).toBe(true);
}
