// The demo's loop 2 end to end: rollouts from the synthetic corpus's programs, the reward
// node through the real openai SDK against the demo's fake server, the sandbox, the group
// node, and the reward shards on disk.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { silentLogger } from '../core/logger';
import { valorTopology } from '../topology/valor-topology';
import { startDemoProvider } from './demo-provider';
import { demoRollouts, formatRewardDemo, runRewardDemo } from './demo-rewards';

jest.setTimeout(120_000);

describe('the reward demo', () => {
  it('scores each kind of rollout as the method says and writes every group once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-rewards-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 10, seed: 4 });
    const rollouts = demoRollouts(corpus.corpusFile);
    expect(rollouts).toHaveLength(2 * 4); // every 5th event carries a program
    const provider = await startDemoProvider(corpus.groundTruthFile);
    try {
      const topology = valorTopology({ nodeConfig: { reward: { provider: (provider.verifyConfig as { provider: unknown }).provider } } });
      const r = await runRewardDemo(topology, corpus.corpusFile, dir, silentLogger);
      // correct: everything; crashes: all but syntax (0.1); no plan: the gate; guesses: syntax only.
      expect(r.meanByVariant).toEqual({ correct: 1, crashes: expect.closeTo(0.9, 10), 'no-plan': 0, guesses: expect.closeTo(0.1, 10) });
      expect(r.groups).toHaveLength(2);
      for (const g of r.groups) {
        expect(g.partial).toBe(false);
        expect(g.mean).toBeCloseTo(0.5, 10);
      }
      const lines = fs
        .readdirSync(r.dir)
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) => fs.readFileSync(path.join(r.dir, f), 'utf8').trim().split('\n'));
      expect(lines.map((l) => JSON.parse(l).groupId).sort()).toEqual(r.groups.map((g) => g.groupId).sort());
      expect(formatRewardDemo(r)).toMatch(/8 in 2 groups of 4; 2 complete, 0 partial/);
    } finally {
      await provider.close();
    }
  });
});
