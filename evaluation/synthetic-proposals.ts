// Simulated low-threshold detector output on the synthetic corpus, for measuring the
// verification stage on its own. The stand-in ONNX detector has GroundingDINO's interface
// but random weights, so its boxes say nothing about the image; these proposals have the
// failure modes the verifier exists to remove, at known rates: loose boxes, boxes that
// chop the object, near-duplicates, wrong labels and background boxes, around one tight
// box per object.
import * as fs from 'node:fs';
import { deterministicId, sha256Hex } from '../core/ids';
import { lineageOf } from '../core/lineage';
import type { DetectorProposals } from '../schemas/generated/types';
import type { ScoredBox } from './label-quality';
import { readGroundTruth } from './label-quality';
import type { GroundTruthRecord } from './synthetic-corpus';
import { mulberry32 } from './synthetic-random';
import { COLORS, SHAPES, type BBox } from './synthetic-scene';

export interface ProposalNoise {
  /** Chance of an extra box 15-40% larger on each side. */
  loose: number;
  /** Chance of an extra box with one side cut by 40-60%. */
  chopped: number;
  /** Chance of a near-coincident duplicate (a few pixels off). */
  duplicate: number;
  /** Chance of a tight box carrying the other phrase's label. */
  wrongLabel: number;
  /** Background boxes per image: 0..this many. */
  background: number;
}

export const DEFAULT_NOISE: ProposalNoise = { loose: 0.6, chopped: 0.4, duplicate: 0.5, wrongLabel: 0.3, background: 2 };

function clip(b: BBox, w: number, h: number): BBox {
  return [Math.max(0, b[0]), Math.max(0, b[1]), Math.min(w, b[2]), Math.min(h, b[3])];
}

/** What a simulated proposal is: the detector's error mode that produced it. */
export type ProposalKind = 'tight' | 'loose' | 'chopped' | 'duplicate' | 'wrong-label' | 'background';
type Push = (b: BBox, label: string, score: number, kind: ProposalKind) => void;

/** One object's proposals: a tight box, then each error mode at its rate (draw order is fixed). */
function proposeForObject(rnd: () => number, o: { bbox: BBox }, label: string, other: string | undefined, noise: ProposalNoise, push: Push): void {
  const between = (lo: number, hi: number) => lo + (hi - lo) * rnd();
  const [x1, y1, x2, y2] = o.bbox;
  const w = x2 - x1;
  const h = y2 - y1;
  const j = (s: number) => between(-s, s);
  push([x1 + j(2), y1 + j(2), x2 + j(2), y2 + j(2)], label, between(0.45, 0.9), 'tight');
  if (rnd() < noise.loose) {
    const f = between(0.15, 0.4);
    push([x1 - f * w, y1 - f * h, x2 + f * w, y2 + f * h], label, between(0.15, 0.38), 'loose');
  }
  if (rnd() < noise.chopped) {
    const cut = between(0.4, 0.6);
    const side = Math.floor(rnd() * 4);
    const b: BBox = [x1, y1, x2, y2];
    if (side === 0) b[0] += cut * w;
    else if (side === 1) b[1] += cut * h;
    else if (side === 2) b[2] -= cut * w;
    else b[3] -= cut * h;
    push(b, label, between(0.15, 0.35), 'chopped');
  }
  if (rnd() < noise.duplicate) push([x1 + j(4), y1 + j(4), x2 + j(4), y2 + j(4)], label, between(0.2, 0.38), 'duplicate');
  if (other && rnd() < noise.wrongLabel) push([x1 + j(2), y1 + j(2), x2 + j(2), y2 + j(2)], other, between(0.1, 0.3), 'wrong-label');
}

function backgroundBoxes(rnd: () => number, W: number, H: number, asked: string[], noise: ProposalNoise, push: Push): void {
  const between = (lo: number, hi: number) => lo + (hi - lo) * rnd();
  const nBg = Math.floor(rnd() * (noise.background + 1));
  for (let i = 0; i < nBg && asked.length; i++) {
    const w = between(0.08, 0.25) * W;
    const h = between(0.08, 0.25) * H;
    const x = between(0, W - w);
    const y = between(0, H - h);
    push([x, y, x + w, y + h], asked[Math.floor(rnd() * asked.length)]!, between(0.1, 0.2), 'background');
  }
}

function seeded(key: string): () => number {
  return mulberry32(Number.parseInt(sha256Hex(key).slice(0, 8), 16) >>> 0 || 1);
}

function pusher(out: Array<ScoredBox & { kind: ProposalKind }>, W: number, H: number): Push {
  return (b, label, score, kind) => {
    const [x1, y1, x2, y2] = clip(b, W, H);
    if (x2 - x1 >= 2 && y2 - y1 >= 2) out.push({ x1, y1, x2, y2, label, score: Math.round(score * 1000) / 1000, kind });
  };
}

/** Proposals for one image and the phrases asked for, sorted by score (highest first). */
export function simulateProposals(truth: GroundTruthRecord, phrases: string[], seed = 1, noise: ProposalNoise = DEFAULT_NOISE): ScoredBox[] {
  const rnd = seeded(`${seed}:${truth.id}`);
  const out: Array<ScoredBox & { kind: ProposalKind }> = [];
  const push = pusher(out, truth.width, truth.height);
  const asked = phrases.map((p) => p.trim()).filter(Boolean);
  for (const o of truth.objects) {
    const label = asked.find((p) => p.toLowerCase() === o.category.toLowerCase());
    if (label)
      proposeForObject(
        rnd,
        o,
        label,
        asked.find((p) => p !== label),
        noise,
        push,
      );
  }
  backgroundBoxes(rnd, truth.width, truth.height, asked, noise, push);
  return out.map(({ kind: _kind, ...b }) => b).sort((a, b) => b.score - a.score);
}

/** A simulated proposal with the text score an open-vocabulary detector gives its label. */
export type SimulatedBox = ScoredBox & { kind: ProposalKind; textScore: number };

// Text scores by error mode: the label of a box on the right object scores well, a label on
// the wrong object or on background scores low, as GroundingDINO's token logits do.
const TEXT_SCORE: Record<ProposalKind, [number, number]> = {
  tight: [0.35, 0.85],
  loose: [0.3, 0.6],
  chopped: [0.25, 0.5],
  duplicate: [0.35, 0.8],
  'wrong-label': [0.1, 0.24],
  background: [0.1, 0.3],
};

/**
 * Proposals of a simulated detector, every box with a text score. Each object draws from its
 * own seeded stream, so two queries of the same image that both ask for an object get the
 * same boxes for it (as a deterministic detector would), whatever else they ask for.
 */
export function simulateDetections(truth: GroundTruthRecord, phrases: string[], seed = 1, noise: ProposalNoise = DEFAULT_NOISE): SimulatedBox[] {
  const out: Array<ScoredBox & { kind: ProposalKind }> = [];
  const push = pusher(out, truth.width, truth.height);
  const asked = phrases.map((p) => p.trim()).filter(Boolean);
  truth.objects.forEach((o, i) => {
    const label = asked.find((p) => p.toLowerCase() === o.category.toLowerCase());
    if (label)
      proposeForObject(
        seeded(`${seed}:${truth.id}:${i}`),
        o,
        label,
        asked.find((p) => p !== label),
        noise,
        push,
      );
  });
  backgroundBoxes(seeded(`${seed}:${truth.id}:bg:${asked.join('|')}`), truth.width, truth.height, asked, noise, push);
  return out
    .map((b) => {
      const [lo, hi] = TEXT_SCORE[b.kind];
      const r = seeded(`${seed}:${truth.id}:text:${b.kind}:${b.label}:${b.x1}:${b.y1}`)();
      return { ...b, textScore: Math.round((lo + (hi - lo) * r) * 1000) / 1000 };
    })
    .sort((a, b) => b.score - a.score);
}

/**
 * What the planner would ask the detector for: a spatial question names two objects, whose
 * categories are the phrases (in image order, as ever, so proposals stay as they were); a
 * counting question names a shape, and its program asks for every colour of it.
 */
export function askedPhrases(t: GroundTruthRecord): string[] {
  if (t.question_type !== 'count') return [...new Set(t.objects.map((o) => o.category).filter((c) => t.question.includes(c)))];
  const literal = t.program ? /gd_detect\(img, "([^"]*)"\)/.exec(t.program)?.[1] : undefined;
  if (literal !== undefined)
    return literal
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
  const shape = SHAPES.find((s) => t.question.includes(`${s}s`));
  return shape ? COLORS.map((c) => `${c} ${shape}`) : [];
}

/**
 * DetectorProposals records for a synthetic corpus, as the detect node would write them
 * (image by file path with its sha256), one per image, asking for the question's phrases.
 */
export function simulatedProposalRecords(
  groundTruthFile: string,
  opts: { seed?: number; noise?: ProposalNoise; phrases?: (t: GroundTruthRecord) => string[] } = {},
): DetectorProposals[] {
  const truth = readGroundTruth(groundTruthFile);
  const out: DetectorProposals[] = [];
  for (const t of truth.values()) {
    const phrases = opts.phrases?.(t) ?? askedPhrases(t);
    const bytes = fs.readFileSync(t.imagePath);
    const boxes = simulateProposals(t, phrases, opts.seed ?? 1, opts.noise);
    const id = deterministicId('prop', 'simulated', t.id, opts.seed ?? 1);
    out.push({
      id,
      requestId: `${t.id}-req`,
      queryId: t.id,
      image: { uri: t.imagePath, bytes: null, sha256: sha256Hex(bytes), width: t.width, height: t.height, mediaType: 'image/png' },
      imageWidth: t.width,
      imageHeight: t.height,
      caption: phrases.map((p) => p.replace(/ /g, '-')).join(' . ') + ' .',
      phrases,
      boxes,
      detector: { modelSha256: 'simulated', layout: 'simulated', boxThreshold: 0.1, textThreshold: 0.1 },
      createdAt: 0,
      lineage: lineageOf('simulated-detector', [t.id], { 'detector.kind': 'simulated', 'detector.seed': String(opts.seed ?? 1) }),
    });
  }
  return out;
}
