// The question asked about each synthetic image, whose answer follows from the boxes beyond
// doubt, and the reasoning-LLM style program that answers it.
import type { Rng } from './synthetic-random';
import type { BBox, PlacedShape } from './synthetic-scene';

export type QuestionType = 'left' | 'right' | 'above' | 'below' | 'larger';

const cx = (b: BBox) => (b[0] + b[2]) / 2;
const cy = (b: BBox) => (b[1] + b[3]) / 2;
const area = (b: BBox) => (b[2] - b[0]) * (b[3] - b[1]);

export interface Question {
  type: QuestionType;
  a: PlacedShape;
  b: PlacedShape;
  question: string;
  answer: string;
}

/**
 * One question about an ordered pair, or null when the boxes make it ambiguous (centres
 * too close, sizes too similar) — the answer must follow from the boxes beyond doubt.
 */
function askAbout(type: QuestionType, a: PlacedShape, b: PlacedShape, width: number, height: number): Question | null {
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

const QUESTION_TYPES: readonly QuestionType[] = ['left', 'right', 'above', 'below', 'larger'];

export function chooseQuestion(rng: Rng, shapes: PlacedShape[], width: number, height: number): Question | null {
  const candidates: Array<[QuestionType, number, number]> = [];
  for (const t of QUESTION_TYPES) {
    for (let i = 0; i < shapes.length; i++) {
      for (let j = 0; j < shapes.length; j++) if (i !== j) candidates.push([t, i, j]);
    }
  }
  // Type first, then pair: keeps the five question types roughly equally frequent.
  const types = rng.shuffle([...QUESTION_TYPES]);
  for (const t of types) {
    const pairs = rng.shuffle(candidates.filter((c) => c[0] === t));
    for (const [, i, j] of pairs) {
      const q = askAbout(t, shapes[i], shapes[j], width, height);
      if (q) return q;
    }
  }
  return null;
}

const varName = (category: string) => category.replace(/\s+/g, '_');

/** A reasoning-LLM style answer (plan + program) whose detector call names the two phrases. */
export function buildProgram(q: Question): string {
  const a = q.a.category;
  const b = q.b.category;
  const va = varName(a);
  const vb = varName(b);
  const steps: Record<QuestionType, [string, string]> = {
    left: ['Compare the horizontal centres of their boxes.', `final_answer = "yes" if (${va}[0] + ${va}[2]) / 2 < (${vb}[0] + ${vb}[2]) / 2 else "no"`],
    right: ['Compare the horizontal centres of their boxes.', `final_answer = "yes" if (${va}[0] + ${va}[2]) / 2 > (${vb}[0] + ${vb}[2]) / 2 else "no"`],
    above: [
      'Compare the vertical centres of their boxes (y grows downwards).',
      `final_answer = "yes" if (${va}[1] + ${va}[3]) / 2 < (${vb}[1] + ${vb}[3]) / 2 else "no"`,
    ],
    below: [
      'Compare the vertical centres of their boxes (y grows downwards).',
      `final_answer = "yes" if (${va}[1] + ${va}[3]) / 2 > (${vb}[1] + ${vb}[3]) / 2 else "no"`,
    ],
    larger: [
      'Compare the areas of their boxes.',
      `area_${va} = (${va}[2] - ${va}[0]) * (${va}[3] - ${va}[1])\n` +
        `area_${vb} = (${vb}[2] - ${vb}[0]) * (${vb}[3] - ${vb}[1])\n` +
        `final_answer = "${a}" if area_${va} > area_${vb} else "${b}"`,
    ],
  };
  const [compare, code] = steps[q.type];
  return (
    `<plan>1. Detect the ${a} and the ${b}.\n2. ${compare}\n3. Answer from the comparison.</plan>` +
    `<answer>\n` +
    // The method's tool API: gd_detect returns a list of {"bbox", "label"}.
    `dets = gd_detect(img, "${a}, ${b}")\n` +
    `${va} = [d["bbox"] for d in dets if d["label"] == "${a}"][0]\n` +
    `${vb} = [d["bbox"] for d in dets if d["label"] == "${b}"][0]\n` +
    `${code}\n` +
    `</answer>`
  );
}
