// Versioned prompt files for the three verifier stages. A record carries the sha256 of the
// file that judged it, so any edit changes the hash (and misses the verdict cache).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import type { Stage } from './cascade';

// Compiled code runs from dist/, where prompt files are not copied: look in the source tree too.
const PROMPT_DIRS = [path.join(__dirname, 'prompts'), path.join(__dirname, '..', '..', '..', 'models', 'verifier', 'prompts')];

/**
 * `cached` (default, v2 files): what is the same across calls goes first, so the provider's
 * prompt cache can serve it: the instructions with the stage's static text (for stages 1
 * and 3 one shared rules file, so both reuse the clean image that follows), then the clean
 * image, then the annotated image or the crop, then the per-record text. `reference`
 * (v1 files): the method's order, the box list first and the images after.
 */
export const promptLayout = z.enum(['cached', 'reference']);
export type PromptLayout = z.infer<typeof promptLayout>;

const DEFAULT_FILES: Record<PromptLayout, { coarse: string; crop: string; final: string }> = {
  cached: { coarse: 'coarse-v2.md', crop: 'crop-v2.md', final: 'final-v2.md' },
  reference: { coarse: 'coarse-v1.md', crop: 'crop-v1.md', final: 'final-v1.md' },
};

export const verifierPromptsConfig = z
  .object({
    layout: promptLayout.default('cached'),
    /** cached layout: the static text of stages 1 and 3 (the per-stage files hold the per-record part). */
    rules: z.string().min(1).default('list-rules-v2.md'),
    coarse: z.string().min(1).optional(),
    crop: z.string().min(1).optional(),
    final: z.string().min(1).optional(),
  })
  .strict()
  .transform(
    (c) =>
      ({
        ...c,
        ...DEFAULT_FILES[c.layout],
        ...Object.fromEntries(Object.entries({ coarse: c.coarse, crop: c.crop, final: c.final }).filter(([, v]) => v)),
      }) as {
        layout: PromptLayout;
        rules: string;
        coarse: string;
        crop: string;
        final: string;
      },
  );
export type VerifierPromptsConfig = z.infer<typeof verifierPromptsConfig>;

/** Splits a cached-layout file: text above this line is static, below it per record. */
export const PER_RECORD_MARKER = '<!-- per record -->';

export interface PromptFile {
  file: string;
  /** The per-record template (the whole file in the reference layout). */
  text: string;
  /** Static text sent before the images (cached layout); absent in the reference layout. */
  static?: string | null;
  /** First 16 hex digits of the sha256 of everything the stage sends (layout, static text, template). */
  hash: string;
}

export type StagePrompts = Record<Stage, PromptFile> & { layout: PromptLayout };

/** A bare file name is looked up among the shipped prompts; a path is used as given. */
function resolvePrompt(name: string, field: string): string {
  const candidates = name.includes('/') || name.includes(path.sep) ? [path.resolve(name)] : PROMPT_DIRS.map((d) => path.join(d, name));
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new ConfigError(`${field}: prompt file '${name}' not found (looked in ${candidates.join(', ')})`);
  return found;
}

export function loadVerifierPrompts(cfg: VerifierPromptsConfig): StagePrompts {
  const read = (name: string, field: string) => {
    const file = resolvePrompt(name, field);
    return { file, text: fs.readFileSync(file, 'utf8') };
  };
  const hash = (...parts: Array<string | null>) => sha256Hex(JSON.stringify(parts)).slice(0, 16);
  if (cfg.layout === 'reference') {
    // The v1 hash recipe (the file's own sha256): verdicts cached before layouts existed stay valid.
    const load = (name: string, field: string): PromptFile => {
      const { file, text } = read(name, field);
      return { file, text, static: null, hash: sha256Hex(text).slice(0, 16) };
    };
    return { layout: 'reference', COARSE: load(cfg.coarse, 'prompts.coarse'), CROP: load(cfg.crop, 'prompts.crop'), FINAL: load(cfg.final, 'prompts.final') };
  }
  const rules = read(cfg.rules, 'prompts.rules').text.trim();
  const split = (name: string, field: string, shared: string | null): PromptFile => {
    const { file, text } = read(name, field);
    const at = text.indexOf(PER_RECORD_MARKER);
    const own = at < 0 ? null : text.slice(0, at).trim();
    const record = (at < 0 ? text : text.slice(at + PER_RECORD_MARKER.length)).trim();
    const fixed = own ?? shared;
    if (fixed === null) throw new ConfigError(`${field}: ${file} has no '${PER_RECORD_MARKER}' line to split its static text from the per-record part`);
    if (/\{\{\w+\}\}/.test(fixed)) throw new ConfigError(`${field}: the static part of ${file} uses a placeholder; move it below '${PER_RECORD_MARKER}'`);
    return { file, text: record, static: fixed, hash: hash('cached', fixed, record) };
  };
  return {
    layout: 'cached',
    COARSE: split(cfg.coarse, 'prompts.coarse', rules),
    CROP: split(cfg.crop, 'prompts.crop', null),
    FINAL: split(cfg.final, 'prompts.final', rules),
  };
}

/** Fills `{{name}}` placeholders; an unknown placeholder is a prompt bug, so it fails loudly. */
export function fillPrompt(prompt: PromptFile, values: Record<string, string | number>): string {
  return prompt.text.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in values)) throw new ConfigError(`prompt ${prompt.file} uses {{${k}}}, which the verifier does not provide`);
    return String(values[k]);
  });
}

const r = (n: number) => Math.round(n);

/** The method's box list: `i: label='l', box_px=[x1,y1,x2,y2]`, 1-based, integer pixels. */
export function boxLines(boxes: Array<{ x1: number; y1: number; x2: number; y2: number; label: string }>): string {
  return boxes.map((b, i) => `${i + 1}: label='${b.label.replace(/'/g, '')}', box_px=[${r(b.x1)},${r(b.y1)},${r(b.x2)},${r(b.y2)}]`).join('\n');
}

export function boxText(b: { x1: number; y1: number; x2: number; y2: number }): string {
  return `[${r(b.x1)},${r(b.y1)},${r(b.x2)},${r(b.y2)}]`;
}
