// Image input tokens by OpenAI's documented rule for the patch-based models (gpt-5-mini,
// gpt-5-nano, gpt-4.1-mini, gpt-4.1-nano, o4-mini): count the 32x32 patches that cover the
// image, shrink an image that needs more than 1536 of them, then apply a per-model multiplier.
// Other models (and Gemini) take multiplier 1: a plausible count, not their real rule.

export const PATCH_PX = 32;
export const MAX_PATCHES = 1536;

/** Documented multipliers; a model not listed is charged one token per patch. */
export const IMAGE_TOKEN_MULTIPLIERS: Readonly<Record<string, number>> = {
  'gpt-5-mini': 1.62,
  'gpt-5-nano': 2.46,
  'gpt-4.1-mini': 1.62,
  'gpt-4.1-nano': 2.46,
  'o4-mini': 1.72,
};

// Floating-point slack: 100 * 1.62 is 162.00000000000003, and a width scaled to exactly
// 33 patches can come out as 33.000000000001; neither may round up a whole token or patch.
const EPS = 1e-9;
const ceil = (x: number) => Math.ceil(x - EPS);

/** A dated snapshot (gpt-5-mini-2025-08-07) is priced as its alias (gpt-5-mini). */
export function modelAlias(model: string): string {
  return model.replace(/-\d{4}-\d{2}-\d{2}$/, '');
}

export function imageTokenMultiplier(model: string): number {
  return IMAGE_TOKEN_MULTIPLIERS[modelAlias(model)] ?? 1;
}

export interface PatchCount {
  patches: number;
  /** The size the patches were counted at (the original unless it had to shrink). */
  width: number;
  height: number;
}

/**
 * The patches an image costs. Over 1536 raw patches, the documented algorithm scales by
 * r = sqrt(32² · 1536 / (w · h)), then scales again so the tighter side fits a whole number
 * of patches; the side that fits exactly then bounds the other, so the product never
 * exceeds 1536. A side thinner than one patch after scaling keeps one patch (the formula
 * would make it zero) and the documented cap of 1536 bounds the result.
 */
export function imagePatches(width: number, height: number): PatchCount {
  if (!(width > 0 && height > 0)) return { patches: 0, width: 0, height: 0 };
  const raw = Math.ceil(width / PATCH_PX) * Math.ceil(height / PATCH_PX);
  if (raw <= MAX_PATCHES) return { patches: raw, width, height };
  let r = Math.sqrt((PATCH_PX * PATCH_PX * MAX_PATCHES) / (width * height));
  const w = (width * r) / PATCH_PX;
  const h = (height * r) / PATCH_PX;
  r *= Math.min(Math.max(1, Math.floor(w)) / w, Math.max(1, Math.floor(h)) / h);
  const rw = width * r;
  const rh = height * r;
  const patches = Math.min(MAX_PATCHES, ceil(rw / PATCH_PX) * ceil(rh / PATCH_PX));
  return { patches, width: rw, height: rh };
}

/** Input tokens for one image sent to `model`. */
export function imageTokens(width: number, height: number, model: string): number {
  return ceil(imagePatches(width, height).patches * imageTokenMultiplier(model));
}
