// The dry-run estimate on crafted caches: cached stages cost nothing, misses are certain
// calls, and what follows a miss is estimated from the keep rates of the cached verdicts.
import { MemoryStore } from '../../core/store';
import type { DetectorProposals, VerdictCacheEntry, VerifierJudgement } from '../../schemas/generated/types';
import type { ProposedBox } from '../detector/postprocess';
import { loadVerifierPrompts, verifierPromptsConfig } from './prompts';
import { pricesFromJudgements, VerdictCacheEstimator } from './replay-estimate';
import { Verifier } from './verifier';

const box = (i: number): ProposedBox => ({ label: 'cup', x1: 10 * i, y1: 10, x2: 10 * i + 8, y2: 30, score: 0.5, textScore: 0.4 }) as ProposedBox;
const proposals = (sha: string, n: number): DetectorProposals =>
  ({
    id: `p-${sha}`,
    queryId: `q-${sha}`,
    image: { uri: null, bytes: null, sha256: sha },
    imageWidth: 100,
    imageHeight: 100,
    boxes: Array.from({ length: n }, (_, i) => box(i + 1)),
  }) as unknown as DetectorProposals;

const llm = {
  kind: 'openai-responses',
  model: 'gpt-5-mini',
  complete: async () => {
    throw new Error('an estimate never calls the model');
  },
};
const verifier = new Verifier(llm, loadVerifierPrompts(verifierPromptsConfig.parse({})), null, { crop: { padFraction: 0.1, longSide: 640 } });
const list = (keep: number[]) => ({ raw: JSON.stringify({ keep_indices: keep, drop_indices: [], notes: [] }), model: 'gpt-5-mini' });
const crop = (keep: boolean) => ({ raw: JSON.stringify({ keep, reason: '' }), model: 'gpt-5-mini' });
const noPrices = pricesFromJudgements([]);

async function cacheWith(entries: Array<[string, VerdictCacheEntry]>): Promise<MemoryStore<VerdictCacheEntry>> {
  const store = new MemoryStore<VerdictCacheEntry>('verdicts');
  for (const [k, v] of entries) await store.put(k, v);
  return store;
}

describe('VerdictCacheEstimator', () => {
  it('a fully cached cascade costs nothing; an uncached one costs 2 + k with every box assumed kept', async () => {
    const p = proposals('aa', 3);
    const b = p.boxes as ProposedBox[];
    const cache = await cacheWith([
      [verifier.cacheKey('COARSE', 'aa', b), list([1, 3])],
      [verifier.cacheKey('CROP', 'aa', [b[0]!]), crop(true)],
      [verifier.cacheKey('CROP', 'aa', [b[2]!]), crop(false)],
      [verifier.cacheKey('FINAL', 'aa', [b[0]!]), list([1])],
    ]);
    const e = new VerdictCacheEstimator(verifier, cache, noPrices);
    await e.add(p);
    expect(e.result().calls).toEqual({ cached: 4, certain: 0, expected: 0, min: 0, max: 0 });

    const fresh = new VerdictCacheEstimator(verifier, await cacheWith([]), noPrices);
    await fresh.add(proposals('bb', 4));
    const r = fresh.result();
    expect(r.calls).toMatchObject({ cached: 0, certain: 1, expected: 6, min: 1, max: 6 });
    expect(r.notes.join(' ')).toMatch(/every box is assumed kept/);
    expect(r.usd).toBeNull();
  });

  it('learns keep rates from cached verdicts for the stages after a miss', async () => {
    const cachedSet = proposals('aa', 4);
    const b = cachedSet.boxes as ProposedBox[];
    const cache = await cacheWith([
      // Stage 1 kept 2 of 4; stage 2 kept 1 of 2.
      [verifier.cacheKey('COARSE', 'aa', b), list([1, 2])],
      [verifier.cacheKey('CROP', 'aa', [b[0]!]), crop(true)],
      [verifier.cacheKey('CROP', 'aa', [b[1]!]), crop(false)],
      [verifier.cacheKey('FINAL', 'aa', [b[0]!]), list([1])],
    ]);
    const e = new VerdictCacheEstimator(verifier, cache, noPrices);
    await e.add(cachedSet);
    await e.add(proposals('cc', 2)); // stage 1 misses: 1 call, then 0.5 * 2 crops, then final with p = 1 - (1 - 0.25)^2
    const r = e.result();
    expect(r.byStage.COARSE).toMatchObject({ cached: 1, certain: 1, expected: 1 });
    expect(r.byStage.CROP).toMatchObject({ cached: 2, certain: 0, expected: 1, max: 2 });
    expect(r.byStage.FINAL!.expected).toBeCloseTo(1 - 0.75 ** 2, 10);
    expect(r.notes.join(' ')).toMatch(/stage 1 kept 50% of 4 boxes, stage 2 50% of 2/);
  });

  it('a cached stage 1 with an uncached crop makes the crop and the final call certain when a survivor is known', async () => {
    const p = proposals('dd', 3);
    const b = p.boxes as ProposedBox[];
    const cache = await cacheWith([
      [verifier.cacheKey('COARSE', 'dd', b), list([1, 2])],
      [verifier.cacheKey('CROP', 'dd', [b[0]!]), crop(true)],
    ]);
    const e = new VerdictCacheEstimator(verifier, cache, noPrices);
    await e.add(p);
    expect(e.result().calls).toMatchObject({ cached: 2, certain: 2, expected: 2, min: 2, max: 2 });
  });

  it('prices calls by stage from uncached judgements', async () => {
    const j = (stage: string, calls: number, costUsd: number, cached = false) =>
      ({ stage, cached, usage: { calls, costUsd, inputTokens: 0, outputTokens: 0 } }) as unknown as VerifierJudgement;
    const prices = pricesFromJudgements([j('COARSE', 1, 0.002), j('CROP', 2, 0.002), j('COARSE', 0, 0, true)]);
    expect(prices.byStage).toEqual({ COARSE: 0.002, CROP: 0.001 });
    const e = new VerdictCacheEstimator(verifier, await cacheWith([]), prices);
    await e.add(proposals('ee', 2)); // 1 coarse + 2 crops + 1 final expected
    expect(e.result().usd).toBeCloseTo(0.002 + 2 * 0.001 + 0.004 / 3, 10);
  });
});
