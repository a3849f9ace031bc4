// One proposal set through the verifier, and the records it yields: a judgement per stage
// that ran and the pseudo-label (accepted boxes, and every rejected box as a hard negative
// with the stage and reason). Shared by the verify node and its batch-mode twin, so both
// write the same records for the same verdicts.
import { deterministicId } from '../../core/ids';
import { lineageOf } from '../../core/lineage';
import type { Emit, Origin } from '../../core/processor';
import type { DetectorProposals, PseudoLabel, VerifierJudgement } from '../../schemas/generated/types';
import type { ImageIntake, LoadedImage } from '../images/image-intake';
import { sumCalls } from './cascade';
import type { StagePrompts } from './prompts';
import type { Verifier } from './verifier';

export interface VerifyEnv {
  node: string;
  verifier: Verifier;
  prompts: StagePrompts;
  intake: ImageIntake;
  now: () => number;
  signal?: AbortSignal;
}

/** Verifies `p` and returns its records, with what its calls cost. Throws what the cascade throws. */
export async function verifyProposals(
  p: DetectorProposals,
  origin: Origin | undefined,
  env: VerifyEnv,
): Promise<{ emits: Emit[]; costUsd: number; accepted: number; calls: number }> {
  const { verifier, prompts } = env;
  // Fetched at most once per record: for the hash below and again for the stages.
  let loaded: Promise<LoadedImage> | undefined;
  const fetchImage = () => (loaded ??= env.intake.load(p.image, env.signal));
  const image = {
    sha256: p.image.sha256 ?? '',
    width: p.imageWidth,
    height: p.imageHeight,
    // Intake refuses bytes whose sha256 differs from the one the detector saw: boxes
    // judged on other pixels would label the wrong picture.
    load: async () => (await fetchImage()).bytes,
  };
  // Without a hash from the detector, the cache key needs one now.
  if (!image.sha256) image.sha256 = (await fetchImage()).sha256;
  const result = await verifier.verify(image, p.boxes, env.signal);
  const version = verifier.version;
  const { kind, model } = verifier.provider;
  const now = env.now();
  const versions = {
    'verifier.version': version,
    'verifier.provider': kind,
    'verifier.model': model,
    'verifier.prompt.coarse': prompts.COARSE.hash,
    'verifier.prompt.crop': prompts.CROP.hash,
    'verifier.prompt.final': prompts.FINAL.hash,
  };
  const lineage = (parents: string[]) => lineageOf(env.node, parents, versions, origin);
  const judgements: VerifierJudgement[] = result.stages.map((s) => ({
    id: deterministicId('judg', p.id, s.stage, version),
    proposalsId: p.id,
    queryId: p.queryId,
    stage: s.stage,
    verdicts: s.verdicts.map((v) => ({ boxIndex: v.boxIndex, keep: v.keep, reason: v.reason })),
    provider: kind,
    model,
    promptHash: prompts[s.stage].hash,
    cached: s.calls.every((c) => c.cached),
    usage: sumCalls(s.calls),
    rawAnswer: s.calls.length === 1 ? s.calls[0]!.raw : JSON.stringify(s.calls.map((c) => c.raw)),
    createdAt: now,
    lineage: lineage([p.id, p.queryId]),
  }));
  const total = sumCalls(result.stages.flatMap((s) => s.calls));
  const label: PseudoLabel = {
    id: deterministicId('pl', p.id, version),
    proposalsId: p.id,
    queryId: p.queryId,
    // Inline bytes are kept only when there is no URI to find the image by.
    image: { ...p.image, bytes: p.image.uri ? null : p.image.bytes, sha256: image.sha256 },
    width: p.imageWidth,
    height: p.imageHeight,
    accepted: result.accepted.map((i) => p.boxes[i - 1]!),
    negatives: result.rejected.map((r) => ({ box: p.boxes[r.boxIndex - 1]!, rejectedAt: r.stage, reason: r.reason })),
    verifierVersion: version,
    usage: total,
    createdAt: now,
    lineage: lineage([p.id, p.queryId, ...judgements.map((j) => j.id)]),
  };
  const emits: Emit[] = [...judgements.map((j) => ({ port: 'judgements', key: p.queryId, value: j })), { port: 'labels', key: p.queryId, value: label }];
  return { emits, costUsd: total.costUsd, accepted: label.accepted.length, calls: total.calls };
}
