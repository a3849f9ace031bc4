// Token estimates made before a call, for the tokens/min bucket: rough on purpose, since the
// reservation is settled with the usage the API reports once the call returns.
import type { CompletionRequest } from './provider';

// OpenAI's patch-based image input: 32x32 px patches, images scaled down to at most 1536.
const IMAGE_PATCH_PX = 32;
const MAX_IMAGE_PATCHES = 1536;

/** Input image tokens, estimated as OpenAI counts patches (a fair upper bound for Gemini's 258-token tiles). */
export function imageTokenEstimate(width: number, height: number): number {
  const patches = Math.ceil(Math.max(1, width) / IMAGE_PATCH_PX) * Math.ceil(Math.max(1, height) / IMAGE_PATCH_PX);
  return Math.min(patches, MAX_IMAGE_PATCHES);
}

/** Tokens reserved before a call: text chars/4 + image patches + the output allowance. */
export function estimateTokens(req: CompletionRequest, defaultOutputTokens = 1024): number {
  let chars = req.instructions?.length ?? 0;
  let images = 0;
  for (const part of req.parts) {
    if (part.type === 'text') chars += part.text.length;
    else images += imageTokenEstimate(part.width, part.height);
  }
  if (req.repair) chars += req.repair.previousAnswer.length + req.repair.problem.length;
  // Structured-output schemas are sent with the request and billed as input.
  if (req.output) chars += JSON.stringify(req.output.schema).length;
  return Math.ceil(chars / 4) + images + (req.maxOutputTokens ?? defaultOutputTokens);
}
