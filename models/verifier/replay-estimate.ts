// `replay --dry-run` for the verify node: walks each proposal set's cascade through the
// verdict cache without calling anyone. A stage whose verdict is cached costs nothing and
// tells what the next stage will be shown; a stage that misses is a certain call, and what
// follows it depends on an answer nobody has yet. Those parts are estimated with the keep
// rates of the cached verdicts met on the way (all boxes kept when none were met: an upper
// bound), with the fewest and most calls alongside.
import type { z } from 'zod';
import type { KeyValueStore } from '../../core/store';
import { CallEstimate, emptyCalls, ReplayEstimate, ReplayEstimator } from '../../core/replay-estimate';
import type { DetectorProposals, VerdictCacheEntry, VerifierJudgement } from '../../schemas/generated/types';
import type { ProposedBox as Box } from '../detector/postprocess';
import { cropAnswerSchema, keptIndices, listAnswerSchema, Stage } from './cascade';

const STAGES: Stage[] = ['COARSE', 'CROP', 'FINAL'];

/** What the estimator needs of a Verifier: its cache key recipe. */
export interface VerdictKeys {
  cacheKey(stage: Stage, imageSha: string, boxes: Box[]): string;
}

/** Dollars per provider call by stage, from recent uncached judgements (null: none on record). */
export function pricesFromJudgements(judgements: VerifierJudgement[]): { byStage: Partial<Record<Stage, number>>; overall: number | null; seen: number } {
  const sums = new Map<string, { usd: number; calls: number }>();
  let usd = 0;
  let calls = 0;
  for (const j of judgements) {
    if (j.cached || !j.usage || j.usage.calls <= 0) continue;
    const s = sums.get(j.stage) ?? { usd: 0, calls: 0 };
    s.usd += j.usage.costUsd;
    s.calls += j.usage.calls;
    sums.set(j.stage, s);
    usd += j.usage.costUsd;
    calls += j.usage.calls;
  }
  const byStage: Partial<Record<Stage, number>> = {};
  for (const [stage, s] of sums) byStage[stage as Stage] = s.usd / s.calls;
  return { byStage, overall: calls ? usd / calls : null, seen: calls };
}

type Unknown = { after: 'coarse'; boxes: number } | { after: 'crop'; unknownCrops: number };

export class VerdictCacheEstimator implements ReplayEstimator<DetectorProposals> {
  private records = 0;
  private readonly stages: Record<Stage, CallEstimate> = { COARSE: emptyCalls(), CROP: emptyCalls(), FINAL: emptyCalls() };
  /** Boxes kept / shown by cached stage-1 verdicts, and by cached stage-2 verdicts. */
  private readonly coarseRate = { kept: 0, shown: 0 };
  private readonly cropRate = { kept: 0, shown: 0 };
  private readonly unknowns: Unknown[] = [];
  private noHash = 0;

  constructor(
    private readonly keys: VerdictKeys,
    private readonly cache: KeyValueStore<VerdictCacheEntry> | null,
    private readonly prices: ReturnType<typeof pricesFromJudgements>,
  ) {}

  private async cached<T>(stage: Stage, sha: string, boxes: Box[], schema: z.ZodType<T>): Promise<T | undefined> {
    if (!this.cache || !sha) return undefined;
    const entry = await this.cache.get(this.keys.cacheKey(stage, sha, boxes));
    if (!entry) return undefined;
    // As the verifier does: an entry that no longer validates is asked again.
    try {
      const r = schema.safeParse(JSON.parse(entry.raw.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1')));
      return r.success ? r.data : undefined;
    } catch {
      return undefined;
    }
  }

  private certain(stage: Stage, n = 1): void {
    const s = this.stages[stage];
    s.certain += n;
    s.min += n;
    s.max += n;
  }

  async add(p: DetectorProposals): Promise<void> {
    this.records++;
    const boxes = p.boxes as Box[];
    const n = boxes.length;
    if (n === 0) return;
    const sha = p.image.sha256 ?? '';
    if (!sha) this.noHash++;
    const coarse = await this.cached('COARSE', sha, boxes, listAnswerSchema);
    if (!coarse) {
      this.certain('COARSE');
      this.stages.CROP.max += n;
      this.stages.FINAL.max += 1;
      this.unknowns.push({ after: 'coarse', boxes: n });
      return;
    }
    this.stages.COARSE.cached++;
    const kept = [...keptIndices(coarse, n)].sort((a, b) => a - b);
    this.coarseRate.kept += kept.length;
    this.coarseRate.shown += n;
    const survivors: number[] = [];
    let unknownCrops = 0;
    for (const i of kept) {
      const crop = await this.cached('CROP', sha, [boxes[i - 1]!], cropAnswerSchema);
      if (!crop) {
        this.certain('CROP');
        unknownCrops++;
        continue;
      }
      this.stages.CROP.cached++;
      this.cropRate.shown++;
      if (crop.keep) {
        this.cropRate.kept++;
        survivors.push(i);
      }
    }
    if (unknownCrops === 0) {
      if (survivors.length === 0) return;
      const fin = await this.cached(
        'FINAL',
        sha,
        survivors.map((i) => boxes[i - 1]!),
        listAnswerSchema,
      );
      if (fin) this.stages.FINAL.cached++;
      else this.certain('FINAL');
      return;
    }
    // Stage 3 sees survivors not known yet: a call unless every unknown crop rejects.
    if (survivors.length > 0) this.certain('FINAL');
    else {
      this.stages.FINAL.max += 1;
      this.unknowns.push({ after: 'crop', unknownCrops });
    }
  }

  result(): ReplayEstimate {
    const notes: string[] = [];
    const r1 = this.coarseRate.shown ? this.coarseRate.kept / this.coarseRate.shown : 1;
    const r2 = this.cropRate.shown ? this.cropRate.kept / this.cropRate.shown : 1;
    const stages = structuredClone(this.stages);
    for (const s of STAGES) stages[s].expected = stages[s].certain;
    for (const u of this.unknowns) {
      if (u.after === 'coarse') {
        stages.CROP.expected += r1 * u.boxes;
        stages.FINAL.expected += 1 - (1 - r1 * r2) ** u.boxes;
      } else stages.FINAL.expected += 1 - (1 - r2) ** u.unknownCrops;
    }
    if (this.unknowns.length) {
      notes.push(
        this.coarseRate.shown || this.cropRate.shown
          ? `calls after an uncached stage use the keep rates of the cached verdicts: stage 1 kept ${pct(r1)} of ${this.coarseRate.shown} boxes, stage 2 ${pct(r2)} of ${this.cropRate.shown}`
          : 'no cached verdicts to learn keep rates from: every box is assumed kept (an upper bound)',
      );
    }
    if (!this.cache) notes.push('the verdict cache is disabled (nodes.verify.cache.enabled: false): every stage is a call');
    if (this.noHash) notes.push(`${this.noHash} proposal set(s) carry no image sha256: the cache cannot be consulted for them before the image is fetched`);
    const calls = emptyCalls();
    for (const s of STAGES) for (const k of Object.keys(calls) as Array<keyof CallEstimate>) calls[k] += stages[s][k];
    let usd: number | null = null;
    if (this.prices.overall !== null) {
      usd = STAGES.reduce((t, s) => t + stages[s].expected * (this.prices.byStage[s] ?? this.prices.overall!), 0);
      notes.push(`dollars at the average cost per call of the node's last ${this.prices.seen} uncached provider calls (verifier-judgements), per stage`);
    } else notes.push('no uncached judgements on the output topic yet to price a call by: dollars unknown');
    return { records: this.records, calls, byStage: stages, usd, notes };
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}
