// What the verifier's bill comes to on the same records by five paths, against the fake
// OpenAI server (real HTTP, real SDK), which applies OpenAI's rules: image patches, prompt
// caching (identical prefixes of at least 1,024 tokens, 128-token steps, 90% off), flex
// (half price, seeded "resource unavailable" 429s that fall back to the default tier) and
// the Batch API (half price). Every path must reach the same decisions; the bench fails if
// one does not.
//   reference: VALOR's prompt layout, one call at a time, default tier, no verdict cache
//   layout only: the reference with the caching layout (the layout's own effect)
//   default: the caching layout, concurrent calls, the verdict cache
//   flex: the default on service_tier flex
//   batch: the default through Batch API jobs (mode: batch)
// Images are 1024x768 (a phone photo scaled down; COCO's 640x480 puts the list stages'
// prefix just under 1,024 tokens, so nothing caches there) and each carries two proposal
// sets (two queries on one image), the case the layout is for.
// Prints `name: value unit` lines and a table.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { simulatedProposalRecords } from '../evaluation/synthetic-proposals';
import type { PseudoLabel } from '../schemas/generated/types';
import { VerifierOracle } from '../test/fakes/verifier-oracle';
import { decisions, PathResult, runVerifyPath } from './verify-paths';

const IMAGES = Number(process.env.BENCH_COST_IMAGES ?? 24);
const LATENCY_MS = Number(process.env.BENCH_COST_LATENCY_MS ?? 40);
const FLEX_UNAVAILABLE = Number(process.env.BENCH_COST_FLEX_UNAVAILABLE ?? 0.1);
const IN_USD = 0.25 / 1e6;
const CACHED_USD = 0.025 / 1e6;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cost-'));
  const corpus = await generateSyntheticCorpus({ outDir: dir, count: IMAGES, seed: 12, width: 1024, height: 768 });
  // Two proposal sets per image: the same question asked twice with the detector's noise drawn apart.
  const proposals = [...simulatedProposalRecords(corpus.groundTruthFile, { seed: 1 }), ...simulatedProposalRecords(corpus.groundTruthFile, { seed: 2 })];
  const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
  const paths: Array<[string, Record<string, unknown>]> = [
    ['reference', { prompts: { layout: 'reference' }, concurrency: 1, cache: { enabled: false } }],
    ['layout-only', { prompts: { layout: 'cached' }, concurrency: 1, cache: { enabled: false } }],
    ['default', {}],
    ['flex', { provider: { serviceTier: 'flex' } }],
    ['batch', { mode: 'batch' }],
  ];
  const results: PathResult[] = [];
  for (const [name, over] of paths)
    results.push(await runVerifyPath(name, proposals, oracle, dir, over, { latencyMs: LATENCY_MS, flexUnavailable: FLEX_UNAVAILABLE }));

  const ref = results[0]!;
  const byId = (r: PathResult) => new Map(r.labels.map((l) => [l.proposalsId, decisions(l)]));
  const refDecisions = byId(ref);
  const rows: string[][] = [['path', 'calls', 'input tok', 'cached tok', 'output tok', 'input $', '$ / 1k labels', 'wall s', '$ vs ref']];
  const refUsd = ref.labels.reduce((s, l) => s + l.usage.costUsd, 0);
  let identical = true;
  for (const r of results) {
    const same = r.labels.length === ref.labels.length && [...byId(r)].every(([id, d]) => refDecisions.get(id) === d);
    identical &&= same;
    const sum = (f: (l: PseudoLabel) => number) => r.labels.reduce((s, l) => s + f(l), 0);
    const usd = sum((l) => l.usage.costUsd);
    const cached = sum((l) => l.usage.cachedInputTokens);
    const input = sum((l) => l.usage.inputTokens);
    // Input dollars at list price (the layout's effect, before any tier discount).
    const inputUsd = (input - cached) * IN_USD + cached * CACHED_USD;
    const accepted = sum((l) => l.accepted.length);
    const k = r.name.replace(/-/g, '_');
    console.log(`cost_${k}_calls: ${sum((l) => l.usage.calls)} calls`);
    console.log(`cost_${k}_input_tokens: ${input} tokens`);
    console.log(`cost_${k}_cached_input_tokens: ${cached} tokens`);
    console.log(`cost_${k}_output_tokens: ${sum((l) => l.usage.outputTokens)} tokens`);
    console.log(`cost_${k}_input_usd_list_price: ${inputUsd.toFixed(5)} usd`);
    console.log(`cost_${k}_usd_per_1k_pseudo_labels: ${((usd / Math.max(1, accepted)) * 1000).toFixed(4)} usd`);
    console.log(`cost_${k}_wall: ${r.seconds.toFixed(1)} s`);
    console.log(`cost_${k}_ratio_to_reference: ${(usd / refUsd).toFixed(3)}`);
    console.log(`cost_${k}_same_decisions_as_reference: ${same ? 1 : 0}`);
    if (r.name === 'flex') console.log(`cost_flex_fallbacks_to_default_tier: ${r.fallbacks} calls`);
    rows.push([
      r.name,
      String(sum((l) => l.usage.calls)),
      String(input),
      String(cached),
      String(sum((l) => l.usage.outputTokens)),
      inputUsd.toFixed(4),
      ((usd / Math.max(1, accepted)) * 1000).toFixed(3),
      r.seconds.toFixed(1),
      (usd / refUsd).toFixed(2),
    ]);
  }
  const refInput = rows[1]![5]!;
  const layoutInput = rows[2]![5]!;
  console.log(`cost_layout_input_usd_saving: ${((1 - Number(layoutInput) / Number(refInput)) * 100).toFixed(1)} %`);
  console.log(`cost_images: ${IMAGES} images, ${proposals.length} proposal sets, ${ref.labels.reduce((s, l) => s + l.accepted.length, 0)} pseudo-labels`);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(`# ${r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`);
  fs.rmSync(dir, { recursive: true, force: true });
  if (!identical) throw new Error('the paths did not reach identical decisions');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
