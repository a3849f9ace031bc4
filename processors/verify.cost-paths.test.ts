// The same proposal sets through every cost path of the verify node reach the same
// decisions: the reference (VALOR's layout, one call at a time, no verdict cache), the
// caching layout, flex (with refusals that fall back to the default tier) and batch mode.
// The cheaper paths also cost what they should: cached tokens where the layout lets the
// prompt cache work, and half price on flex and batch (bench/verify-cost.bench.ts measures).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../evaluation/synthetic-proposals';
import type { DetectorProposals, PseudoLabel } from '../schemas/generated/types';
import { VerifierOracle } from '../test/fakes/verifier-oracle';
import { decisions, runVerifyPath } from '../bench/verify-paths';

describe('verify cost paths', () => {
  let dir: string;
  let proposals: DetectorProposals[];
  let oracle: VerifierOracle;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-paths-'));
    const corpus = await generateSyntheticCorpus({ outDir: dir, count: 4, seed: 12, width: 1024, height: 768 });
    proposals = [...simulatedProposalRecords(corpus.groundTruthFile, { seed: 1 }), ...simulatedProposalRecords(corpus.groundTruthFile, { seed: 2 })];
    oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const sum = (ls: PseudoLabel[], f: (l: PseudoLabel) => number) => ls.reduce((s, l) => s + f(l), 0);

  it('reaches identical pseudo-labels by every path, at the expected prices', async () => {
    const ref = await runVerifyPath('reference', proposals, oracle, dir, { prompts: { layout: 'reference' }, concurrency: 1, cache: { enabled: false } });
    const paths = [
      await runVerifyPath('default', proposals, oracle, dir, {}),
      await runVerifyPath('flex', proposals, oracle, dir, { provider: { serviceTier: 'flex' } }, { flexUnavailable: 0.2 }),
      await runVerifyPath('batch', proposals, oracle, dir, { mode: 'batch' }),
    ];
    const want = new Map(ref.labels.map((l) => [l.proposalsId, decisions(l)]));
    expect(want.size).toBe(proposals.length);
    for (const p of paths) {
      expect([p.name, p.labels.length]).toEqual([p.name, proposals.length]);
      for (const l of p.labels) expect([p.name, l.proposalsId, decisions(l)]).toEqual([p.name, l.proposalsId, want.get(l.proposalsId)]);
    }
    const [def, flex, batch] = paths as [(typeof paths)[0], (typeof paths)[0], (typeof paths)[0]];
    expect(sum(ref.labels, (l) => l.usage.cachedInputTokens)).toBe(0);
    expect(sum(def.labels, (l) => l.usage.cachedInputTokens)).toBeGreaterThan(0);
    const usd = (ls: PseudoLabel[]) => sum(ls, (l) => l.usage.costUsd);
    expect(usd(def.labels)).toBeLessThan(usd(ref.labels));
    // Flex is half price except the calls that fell back; batch is half price throughout.
    expect(flex.fallbacks).toBeGreaterThan(0);
    expect(usd(flex.labels)).toBeLessThan(usd(def.labels) * 0.8);
    expect(usd(batch.labels)).toBeCloseTo(usd(def.labels) / 2, 6);
  }, 120_000);
});
