// Reading the verifier prompts the oracle is sent: which stage, the listed boxes, the image
// size, and the crop stage's box and label (the phrases are in models/verifier/prompts/*.md).
import { ValidationError } from '../../core/errors';
import { normalizeCategory } from '../../evaluation/label-quality';
import type { BBox } from '../../evaluation/synthetic-scene';
import type { ListedBox } from './verifier-oracle-judge';

export type OracleStage = 'coarse' | 'crop' | 'final';

/** Which prompt a request carries. */
export function stageOf(text: string): OracleStage {
  const t = text.toLowerCase();
  if (t.includes('dominant object')) return 'crop';
  if (t.includes('final review')) return 'final';
  return 'coarse';
}

const fmtBox = (b: BBox) => `[${b.map((v) => Math.round(v)).join(',')}]`;

/** Where a list request showed a box: the key under which a crop request finds it again. */
export function boxKey(width: number, height: number, label: string, b: BBox): string {
  return `${width}x${height}|${normalizeCategory(label)}|${fmtBox(b)}`;
}

/** The image size a prompt states ("... of a 640x480 image"). */
export function parseSize(text: string): { width: number; height: number } | null {
  const m = /(\d+)x(\d+) image/.exec(text);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : null;
}

/** The method's box list: `i: label='l', box_px=[x1,y1,x2,y2]`, one per line. */
export function parseBoxList(text: string, stage: string): ListedBox[] {
  const re = /^\s*(\d+):\s*label='([^']*)',\s*box_px=\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]\s*$/gm;
  const out: ListedBox[] = [];
  for (const m of text.matchAll(re)) {
    out.push({ index: Number(m[1]), label: m[2]!, bbox: [Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])] });
  }
  if (out.length === 0) throw new ValidationError(`oracle ${stage} request: no box lines of the form "i: label='l', box_px=[x1,y1,x2,y2]" in the prompt`);
  return out;
}

/** The crop prompt's box (numbered 1), its label and the image size. */
export function parseCrop(text: string): { box: ListedBox; size: { width: number; height: number } } {
  const m = /box_px=\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]/.exec(text);
  if (!m) throw new ValidationError('oracle crop request: no box_px=[x1,y1,x2,y2] in the prompt');
  const size = parseSize(text);
  if (!size) throw new ValidationError("oracle crop request: no '<width>x<height> image' in the prompt");
  // Greedy to the line's last quote: the crop prompt does not strip quotes from the label
  // (the list prompt does, so they are dropped here too before any comparison).
  const lm = /object is:\s*'(.*)'/.exec(text) ?? /clearly an? '(.*)'/.exec(text);
  if (!lm) throw new ValidationError('oracle crop request: no label ("The detector says the object is: \'<label>\'") in the prompt');
  const box: ListedBox = { index: 1, label: lm[1]!.replace(/'/g, ''), bbox: [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] };
  return { box, size };
}
