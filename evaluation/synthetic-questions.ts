// The question asked about each synthetic image, whose answer follows from the boxes beyond
// doubt, and the reasoning-LLM style program that answers it.
import type { Rng } from './synthetic-random';
import { COLORS, SHAPES, type BBox, type PlacedShape, type Shape } from './synthetic-scene';

export type PairQuestionType = 'left' | 'right' | 'above' | 'below' | 'larger';
export type QuestionType = PairQuestionType | 'count';

const cx = (b: BBox) => (b[0] + b[2]) / 2;
const cy = (b: BBox) => (b[1] + b[3]) / 2;
const area = (b: BBox) => (b[2] - b[0]) * (b[3] - b[1]);

/** A question about two named objects (their relation or relative size). */
export interface PairQuestion {
  type: PairQuestionType;
  a: PlacedShape;
  b: PlacedShape;
  question: string;
  answer: string;
}

/** "How many <shape>s are there?": the answer is the number of objects of that shape. */
export interface CountQuestion {
  type: 'count';
  shape: Shape;
  question: string;
  answer: string;
}

export type Question = PairQuestion | CountQuestion;

/**
 * One question about an ordered pair, or null when the boxes make it ambiguous (centres
 * too close, sizes too similar) — the answer must follow from the boxes beyond doubt.
 */
function askAbout(type: PairQuestionType, a: PlacedShape, b: PlacedShape, width: number, height: number): PairQuestion | null {
  const dx = cx(a.bbox) - cx(b.bbox);
  const dy = cy(a.bbox) - cy(b.bbox);
  const minDx = Math.max(8, width * 0.04);
  const minDy = Math.max(8, height * 0.04);
  const yesNo = (v: boolean) => (v ? 'yes' : 'no');
  switch (type) {
    case 'left':
      return Math.abs(dx) < minDx ? null : { type, a, b, question: `Is the ${a.category} left of the ${b.category}?`, answer: yesNo(dx < 0) };
    case 'right':
      return Math.abs(dx) < minDx ? null : { type, a, b, question: `Is the ${a.category} right of the ${b.category}?`, answer: yesNo(dx > 0) };
    case 'above':
      return Math.abs(dy) < minDy ? null : { type, a, b, question: `Is the ${a.category} above the ${b.category}?`, answer: yesNo(dy < 0) };
    case 'below':
      return Math.abs(dy) < minDy ? null : { type, a, b, question: `Is the ${a.category} below the ${b.category}?`, answer: yesNo(dy > 0) };
    case 'larger': {
      const ra = area(a.bbox);
      const rb = area(b.bbox);
      if (Math.max(ra, rb) < 1.25 * Math.min(ra, rb)) return null;
      return { type, a, b, question: `Which is larger, the ${a.category} or the ${b.category}?`, answer: ra > rb ? a.category : b.category };
    }
  }
}

const PAIR_QUESTION_TYPES: readonly PairQuestionType[] = ['left', 'right', 'above', 'below', 'larger'];

export function chooseQuestion(rng: Rng, shapes: PlacedShape[], width: number, height: number): PairQuestion | null {
  const candidates: Array<[PairQuestionType, number, number]> = [];
  for (const t of PAIR_QUESTION_TYPES) {
    for (let i = 0; i < shapes.length; i++) {
      for (let j = 0; j < shapes.length; j++) if (i !== j) candidates.push([t, i, j]);
    }
  }
  // Type first, then pair: keeps the five question types roughly equally frequent.
  const types = rng.shuffle([...PAIR_QUESTION_TYPES]);
  for (const t of types) {
    const pairs = rng.shuffle(candidates.filter((c) => c[0] === t));
    for (const [, i, j] of pairs) {
      const q = askAbout(t, shapes[i], shapes[j], width, height);
      if (q) return q;
    }
  }
  return null;
}

/** About one image in COUNT_SHARE is asked a counting question instead. */
export const COUNT_SHARE = 0.25;

/**
 * A counting question for about COUNT_SHARE of images (null for the rest), about a shape the
 * image holds; one held at least twice when there is one, so answers are not all "1".
 * `rng` must be a stream of its own: the image's main stream decides its pixels.
 */
export function chooseCountQuestion(rng: Rng, shapes: PlacedShape[]): CountQuestion | null {
  if (rng.float() >= COUNT_SHARE) return null;
  const counts = SHAPES.map((shape) => ({ shape, n: shapes.filter((s) => s.shape === shape).length })).filter((c) => c.n > 0);
  if (!counts.length) return null;
  const several = counts.filter((c) => c.n >= 2);
  const { shape, n } = rng.pick(several.length ? several : counts);
  return { type: 'count', shape, question: `How many ${shape}s are there?`, answer: String(n) };
}

/** The phrases the question's detector call names: the two objects, or every colour of the shape. */
export function questionPhrases(q: Question): string[] {
  return q.type === 'count' ? COLORS.map((c) => `${c} ${q.shape}`) : [q.a.category, q.b.category];
}

const varName = (category: string) => category.replace(/\s+/g, '_');

// The first final_answer assignment is at top level in every program: the demo's "crashes"
// rollout (cli/demo-rewards.ts) inserts a failing line right before it.
function countProgram(q: CountQuestion): string {
  const phrases = questionPhrases(q);
  return (
    `<plan>1. Detect every ${q.shape}, one phrase per colour.\n` +
    `2. Drop duplicate boxes: a box whose centre lies inside a box already kept is the same object.\n` +
    `3. Count the boxes left.</plan>` +
    `<answer>\n` +
    `dets = gd_detect(img, "${phrases.join(', ')}")\n` +
    `kept = []\n` +
    // Highest score first, so the tight box of an object is kept and its loose or duplicate boxes dropped.
    `for d in dets:\n` +
    `    x1, y1, x2, y2 = d["bbox"]\n` +
    `    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2\n` +
    `    if not any(k[0] <= cx <= k[2] and k[1] <= cy <= k[3] for k in kept):\n` +
    `        kept.append(d["bbox"])\n` +
    `final_answer = str(len(kept))\n` +
    `</answer>`
  );
}

function pairProgram(q: PairQuestion): string {
  const a = q.a.category;
  const b = q.b.category;
  const va = varName(a);
  const vb = varName(b);
  const both = `${va} is not None and ${vb} is not None`;
  // x centre (axis 0: x1, x2) or y centre (axis 1: y1, y2) of a's box against b's.
  const centre = (v: string, axis: 0 | 1) => `(${v}[${axis}] + ${v}[${axis + 2}]) / 2`;
  const compareCentres = (axis: 0 | 1, op: '<' | '>') =>
    `final_answer = "no"\nif ${both}:\n    final_answer = "yes" if ${centre(va, axis)} ${op} ${centre(vb, axis)} else "no"`;
  const steps: Record<PairQuestionType, [string, string]> = {
    left: ['Compare the horizontal centres of their boxes.', compareCentres(0, '<')],
    right: ['Compare the horizontal centres of their boxes.', compareCentres(0, '>')],
    above: ['Compare the vertical centres of their boxes (y grows downwards).', compareCentres(1, '<')],
    below: ['Compare the vertical centres of their boxes (y grows downwards).', compareCentres(1, '>')],
    larger: [
      'Compare the areas of their boxes.',
      // One found and not the other: the one found is the likelier answer.
      `final_answer = "${b}" if ${va} is None else "${a}"\n` +
        `if ${both}:\n` +
        `    area_${va} = (${va}[2] - ${va}[0]) * (${va}[3] - ${va}[1])\n` +
        `    area_${vb} = (${vb}[2] - ${vb}[0]) * (${vb}[3] - ${vb}[1])\n` +
        `    final_answer = "${a}" if area_${va} > area_${vb} else "${b}"`,
    ],
  };
  const [compare, code] = steps[q.type];
  return (
    `<plan>1. Detect the ${a} and the ${b}.\n2. ${compare}\n3. Answer from the comparison.</plan>` +
    `<answer>\n` +
    // The method's tool API: gd_detect returns a list of {"bbox", "label"}, highest score first.
    `dets = gd_detect(img, "${a}, ${b}")\n` +
    `${va} = next((d["bbox"] for d in dets if d["label"] == "${a}"), None)\n` +
    `${vb} = next((d["bbox"] for d in dets if d["label"] == "${b}"), None)\n` +
    `${code}\n` +
    `</answer>`
  );
}

/** A reasoning-LLM style answer (plan + program) whose detector call names the question's phrases. */
export function buildProgram(q: Question): string {
  return q.type === 'count' ? countProgram(q) : pairProgram(q);
}
