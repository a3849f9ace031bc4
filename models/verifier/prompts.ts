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

export const verifierPromptsConfig = z
  .object({
    coarse: z.string().min(1).default('coarse-v1.md'),
    crop: z.string().min(1).default('crop-v1.md'),
    final: z.string().min(1).default('final-v1.md'),
  })
  .strict();
export type VerifierPromptsConfig = z.infer<typeof verifierPromptsConfig>;

export interface PromptFile {
  file: string;
  text: string;
  /** First 16 hex digits of the file's sha256. */
  hash: string;
}

export type StagePrompts = Record<Stage, PromptFile>;

/** A bare file name is looked up among the shipped prompts; a path is used as given. */
function resolvePrompt(name: string, field: string): string {
  const candidates = name.includes('/') || name.includes(path.sep) ? [path.resolve(name)] : PROMPT_DIRS.map((d) => path.join(d, name));
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new ConfigError(`${field}: prompt file '${name}' not found (looked in ${candidates.join(', ')})`);
  return found;
}

export function loadVerifierPrompts(cfg: VerifierPromptsConfig): StagePrompts {
  const load = (name: string, field: string): PromptFile => {
    const file = resolvePrompt(name, field);
    const text = fs.readFileSync(file, 'utf8');
    return { file, text, hash: sha256Hex(text).slice(0, 16) };
  };
  return { COARSE: load(cfg.coarse, 'prompts.coarse'), CROP: load(cfg.crop, 'prompts.crop'), FINAL: load(cfg.final, 'prompts.final') };
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
