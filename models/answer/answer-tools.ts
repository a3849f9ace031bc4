// The host side of an answer program's tools, for one image query: gd_detect by the
// configured detector at inference thresholds, vqa by the configured VLM (resilient,
// cached in a state store, costed), depth by a depth model on onnxruntime-node. The image
// is loaded once, on the first call that needs it, so a bad image is a tool error the
// program sees (and the answer record reports), not a lost record.
import { z } from 'zod';
import { isRetriable } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import { cacheStoreConfig, KeyValueStore } from '../../core/store';
import type { VerdictCacheEntry } from '../../schemas/generated/types';
import { splitPhrases } from '../detector/caption';
import { prepareForDetector, type DetectConfig, type DetectorBackend } from '../detector/detector-backend';
import type { DepthMap, DepthModel } from '../depth/depth-model';
import { medianInBox } from '../depth/depth-model';
import type { ImageIntake, ImageRef, LoadedImage } from '../images/image-intake';
import type { ResilientProvider } from '../llm/resilient-provider';
import type { ToolImplementations } from '../reward/sandbox-tools';
import { cropForVerification, fitLongSide } from '../verifier/verifier-images';
import sharp from 'sharp';

export const vqaSettings = z
  .object({
    /** The crop sent for vqa(img, bbox, ...): padded by this fraction of the box on each side (VALOR's 0.25), long side in pixels. */
    crop: z
      .object({ padFraction: z.number().min(0).max(1).default(0.25), longSide: z.number().int().min(32).max(4096).default(640) })
      .strict()
      .prefault({}),
    /** The whole image (bbox None) is sent at most this long on its long side. */
    imageLongSide: z.number().int().min(64).max(8192).default(1024),
    maxOutputTokens: z.number().int().min(16).default(256),
    /** Answers by (model, image, bbox, prompt) in a state store, so replays and repeated questions cost nothing. */
    cache: cacheStoreConfig('vqa-answers'),
  })
  .strict();
export type VqaSettings = z.infer<typeof vqaSettings>;

// The rules of VALOR's vqa tool: programs compare its answers with == and parse numbers from them.
export const VQA_INSTRUCTIONS =
  'You answer a question about an image (or the region of it that is shown). Answer with one word or one number only: ' +
  'digits, not words, for numbers; no units; decimals when needed; when the question gives options, answer with exactly one of them. No explanation.';

/** vqa's answer as VALOR returns it: lower case, without a trailing full stop or comma. */
export function normalizeVqaAnswer(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[.,]+$/, '')
    .trim();
}

/** Provider usage of one record's tool calls (the answer record's `usage`). */
export interface ToolUsage {
  calls: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export const emptyUsage = (): ToolUsage => ({ calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 });

export interface AnswerToolDeps {
  intake: ImageIntake;
  detector: () => Promise<DetectorBackend>;
  detectConfig: DetectConfig;
  /** Absent: vqa answers with an error naming the setting. */
  vqa?: { llm: ResilientProvider; settings: VqaSettings; cache: KeyValueStore<VerdictCacheEntry> | null };
  /** Absent: depth answers with an error naming the setting. */
  depth?: () => Promise<DepthModel>;
  signal?: AbortSignal;
}

/** One record's tools, and the usage its vqa calls ran up. */
export interface RecordTools {
  impl: ToolImplementations;
  usage: ToolUsage;
  /** The image as a tool loaded it, if one did. */
  loaded: () => LoadedImage | undefined;
  /** The first failure that another attempt may not meet (provider outage, image fetch): not the program's fault. */
  transient: () => Error | undefined;
}

export function answerTools(imageRef: ImageRef, deps: AnswerToolDeps): RecordTools {
  const usage = emptyUsage();
  let loaded: LoadedImage | undefined;
  let transient: Error | undefined;
  const memo = <T>(f: () => Promise<T>): (() => Promise<T>) => {
    let p: Promise<T> | undefined;
    return () => (p ??= f());
  };
  const image = memo(async () => (loaded = await deps.intake.load(imageRef, deps.signal)));
  const prepared = memo(async () => prepareForDetector(await image(), deps.detectConfig));
  const depthMap = memo(async (): Promise<DepthMap> => {
    const model = await deps.depth!();
    return model.depthMap((await image()).bytes);
  });

  const impl: ToolImplementations = {
    async gd_detect(phrases) {
      const list = splitPhrases(phrases);
      if (list.length === 0) throw new Error('no phrase to detect (give "a, b")');
      const [detector, item] = await Promise.all([deps.detector(), prepared()]);
      const [result] = await detector.run([{ prepared: item, phrases: list }]);
      // The method's API: whole pixels of the image, clipped to its last row and column, no
      // scores. Most confident first (VALOR leaves GroundingDINO's query order, which means nothing).
      const w = (item.pre?.origWidth ?? item.image.width) - 1;
      const h = (item.pre?.origHeight ?? item.image.height) - 1;
      const px = (v: number, max: number) => Math.min(max, Math.max(0, Math.trunc(v)));
      return [...result!.boxes].sort((a, b) => b.score - a.score).map((b) => ({ bbox: [px(b.x1, w), px(b.y1, h), px(b.x2, w), px(b.y2, h)], label: b.label }));
    },
    async depth(bbox) {
      if (!deps.depth) throw new Error('no depth model is configured (nodes.answer.depth.modelPath)');
      return round4(medianInBox(await depthMap(), bbox));
    },
    async vqa(bbox, prompt) {
      if (!deps.vqa) throw new Error('no VLM is configured for vqa (nodes.answer.vqa.provider)');
      const { llm, settings, cache } = deps.vqa;
      const img = await image();
      const key = sha256Hex(
        JSON.stringify(['vqa-v1', llm.kind, llm.model, sha256Hex(VQA_INSTRUCTIONS), img.sha256, bbox, prompt, settings.crop, settings.imageLongSide]),
      );
      const hit = await cache?.get(key);
      if (hit) return hit.raw;
      const shown = bbox
        ? await cropForVerification(img.bytes, { x1: bbox[0]!, y1: bbox[1]!, x2: bbox[2]!, y2: bbox[3]! }, settings.crop)
        : await wholeImage(img.bytes, img.width, img.height, settings.imageLongSide);
      const r = await llm.complete({
        instructions: VQA_INSTRUCTIONS,
        parts: [
          { type: 'image', data: shown.png, mediaType: 'image/png', width: shown.width, height: shown.height },
          { type: 'text', text: prompt },
        ],
        maxOutputTokens: settings.maxOutputTokens,
        cacheKey: img.sha256,
        signal: deps.signal,
      });
      usage.calls++;
      usage.inputTokens += r.usage.inputTokens;
      usage.cachedInputTokens += r.usage.cachedInputTokens ?? 0;
      usage.outputTokens += r.usage.outputTokens;
      usage.costUsd += r.costUsd;
      const text = normalizeVqaAnswer(r.text);
      await cache?.put(key, { raw: text, model: r.model });
      return text;
    },
  };
  // Every tool notes a retriable failure on its way to the program as a ToolError.
  const noting =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await f(...a);
      } catch (err) {
        if (!transient && isRetriable(err)) transient = err as Error;
        throw err;
      }
    };
  return {
    impl: { gd_detect: noting(impl.gd_detect), depth: noting(impl.depth), vqa: noting(impl.vqa) },
    usage,
    loaded: () => loaded,
    transient: () => transient,
  };
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** The whole image as PNG, shrunk to `longSide` when larger (VLMs downscale anyway; tokens cost). */
async function wholeImage(bytes: Buffer, width: number, height: number, longSide: number): Promise<{ png: Buffer; width: number; height: number }> {
  const size = Math.max(width, height) > longSide ? fitLongSide(width, height, longSide) : { width, height };
  try {
    const { data, info } = await sharp(bytes).resize(size.width, size.height, { fit: 'fill' }).png().toBuffer({ resolveWithObject: true });
    return { png: data, width: info.width, height: info.height };
  } catch (err) {
    throw new Error(`image cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
}
