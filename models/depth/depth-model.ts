// The depth tool of VALOR answer programs: depth(img, bbox) = the median depth inside the box,
// from a monocular depth model (Depth Anything, MoGe) on onnxruntime-node. The model sees the
// image resized to a square; the box is given in original pixels and mapped onto the map.
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import sharp, { type OutputInfo } from 'sharp';
import { z } from 'zod';
import { ConfigError, ProcessingError, ValidationError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import { Semaphore } from '../../core/semaphore';
import { createOnnxSession, EXECUTION_PROVIDERS } from '../detector/execution-providers';
import { normalizedChw } from '../images/preprocess';
import { loadedKind, Resources } from '../../core/resources';

export const DEPTH_INPUT = 'pixel_values';
export const DEPTH_OUTPUT = 'predicted_depth';
/** Disparities at or below this are clamped before inversion (0 would give an infinite depth). */
export const DISPARITY_EPS = 1e-6;
/** Decompression-bomb guard, as for the detector's images. */
const MAX_PIXELS = 40_000_000;

export const depthModelConfig = z
  .object({
    modelPath: z.string().min(1).default('weights/depth_anything_v2_small.onnx'),
    /**
     * Images are resized to inputSize x inputSize. Depth Anything (and MoGe, both DINOv2 ViTs)
     * take sides that are multiples of the 14-pixel patch, and exports are commonly traced at
     * one fixed square; one square size serves both and the box is mapped back by scaling.
     */
    inputSize: z.number().int().min(14).multipleOf(14).default(518),
    /**
     * What the model outputs. Depth Anything predicts relative inverse depth (disparity),
     * converted here to 1/max(d, eps) so "larger = farther" holds for programs; MoGe outputs depth.
     */
    output: z.enum(['depth', 'disparity']).default('disparity'),
    intraOpThreads: z.number().int().min(1).optional(),
    /** onnxruntime execution providers in order of preference; a missing GPU provider stops start-up. */
    executionProviders: z.array(z.enum(EXECUTION_PROVIDERS)).min(1).default(['cpu']),
  })
  .strict();
export type DepthModelOptions = z.input<typeof depthModelConfig>;
export type DepthModelConfig = z.output<typeof depthModelConfig>;

/** A depth map (already depth, larger = farther) plus the size of the image it was computed from. */
export interface DepthMap {
  /** Row-major, width * height. */
  values: Float32Array;
  width: number;
  height: number;
  imageWidth: number;
  imageHeight: number;
}

function undecodable(err: unknown): ValidationError {
  return new ValidationError(`depth: image cannot be decoded: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * Decodes to 8-bit sRGB without alpha, resizes to size x size (aspect not kept) and returns
 * the CHW ImageNet-normalised tensor data with the original size. Decode and resize are two
 * passes for the reasons given in ../images/preprocess.ts (alpha dropped before resizing, no
 * JPEG shrink-on-load); bicubic as the Hugging Face Depth Anything processor resizes.
 */
export async function preprocessForDepth(image: Buffer, size: number): Promise<{ data: Float32Array; imageWidth: number; imageHeight: number }> {
  if (image.length === 0) throw undecodable(new Error('empty buffer (0 bytes)'));
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(image, { failOn: 'error', limitInputPixels: MAX_PIXELS, autoOrient: false })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw undecodable(err);
  }
  const { width: W, height: H, channels } = decoded.info;
  if (channels !== 3) throw undecodable(new Error(`decoded to ${channels} channels, expected 3`));
  let rgb = decoded.data;
  if (W !== size || H !== size) {
    rgb = await sharp(decoded.data, { raw: { width: W, height: H, channels: 3 }, limitInputPixels: false })
      .resize(size, size, { kernel: 'cubic', fit: 'fill' })
      .raw()
      .toBuffer();
  }
  return { data: normalizedChw(rgb, size * size), imageWidth: W, imageHeight: H };
}

/** Grid cells [lo, hi) whose centres (i + 0.5) lie in [a, b); the cell holding the centre when none do. */
function cellRange(a: number, b: number, cells: number): [number, number] {
  const lo = Math.max(0, Math.ceil(a - 0.5));
  const hi = Math.min(cells, Math.ceil(b - 0.5));
  if (hi > lo) return [lo, hi];
  const c = Math.min(cells - 1, Math.max(0, Math.floor((a + b) / 2)));
  return [c, c + 1];
}

/**
 * The median of the depth map over a box. bbox is [x1, y1, x2, y2] in original image pixels;
 * it is clipped to the image and scaled onto the map, and every cell whose centre lies in it
 * counts (per axis at least one: the cell under the box centre when the box is thinner than a
 * cell). An even count gives the mean of the two middle values.
 */
export function medianInBox(map: DepthMap, bbox: readonly number[]): number {
  const { width, height, imageWidth, imageHeight } = map;
  if (map.values.length !== width * height) throw new RangeError(`depth map has ${map.values.length} values, expected ${width}x${height}`);
  const where = `bbox ${JSON.stringify(bbox)} on the ${imageWidth}x${imageHeight} image`;
  if (bbox.length !== 4 || !bbox.every((v) => Number.isFinite(v))) throw new ValidationError(`depth: ${where}: expected four finite numbers [x1, y1, x2, y2]`);
  const [x1, y1, x2, y2] = bbox as [number, number, number, number];
  if (x2 <= x1 || y2 <= y1) throw new ValidationError(`depth: ${where} is empty (needs x2 > x1 and y2 > y1)`);
  const cx1 = Math.max(0, x1);
  const cy1 = Math.max(0, y1);
  const cx2 = Math.min(imageWidth, x2);
  const cy2 = Math.min(imageHeight, y2);
  if (cx2 <= cx1 || cy2 <= cy1) throw new ValidationError(`depth: ${where} lies entirely outside the image`);
  const sx = width / imageWidth;
  const sy = height / imageHeight;
  const [i0, i1] = cellRange(cx1 * sx, cx2 * sx, width);
  const [j0, j1] = cellRange(cy1 * sy, cy2 * sy, height);
  const picked = new Float32Array((i1 - i0) * (j1 - j0));
  let k = 0;
  for (let j = j0; j < j1; j++) {
    picked.set(map.values.subarray(j * width + i0, j * width + i1), k);
    k += i1 - i0;
  }
  picked.sort(); // typed arrays sort numerically
  const n = picked.length;
  const mid = n >> 1;
  return n % 2 === 1 ? picked[mid]! : (picked[mid - 1]! + picked[mid]!) / 2;
}

function formatIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ');
}

/** A Depth Anything / MoGe style ONNX model (pixel_values in, predicted_depth out). */
export class DepthModel {
  // One run at a time: a session already spreads one inference over the cores (intra-op
  // threads), so concurrent runs would only contend for them and multiply the memory held.
  private readonly gate = new Semaphore(1);

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly modelSha256: string,
    readonly config: DepthModelConfig,
  ) {}

  static async load(opts: DepthModelOptions): Promise<DepthModel> {
    const parsed = depthModelConfig.safeParse(opts);
    if (!parsed.success) throw new ConfigError(`depth model options: ${formatIssues(parsed.error)}`);
    const c = parsed.data;
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(c.modelPath);
    } catch (err) {
      throw new ConfigError(
        `cannot read the depth model at '${c.modelPath}' (modelPath): ${(err as Error).message}. Export one as docs/depth-models.md explains.`,
      );
    }
    let session: ort.InferenceSession;
    try {
      session = await createOnnxSession(bytes, { ...c, field: 'nodes.answer.depth.executionProviders' });
    } catch (err) {
      if (err instanceof ConfigError) throw err; // a provider this install cannot run
      throw new ConfigError(`onnxruntime cannot load the depth model '${c.modelPath}': ${(err as Error).message}`);
    }
    try {
      checkInterface(session, c);
    } catch (err) {
      await session.release();
      throw err;
    }
    return new DepthModel(session, sha256Hex(bytes), c);
  }

  /** Releases the onnxruntime session (native memory); the model is unusable after. */
  async close(): Promise<void> {
    await this.session.release();
  }

  /** The image's depth map (larger = farther), at the model's output resolution. */
  async depthMap(image: Buffer): Promise<DepthMap> {
    const size = this.config.inputSize;
    const pre = await preprocessForDepth(image, size);
    const input = new ort.Tensor('float32', pre.data, [1, 3, size, size]);
    const out = await this.gate.run(() => this.session.run({ [DEPTH_INPUT]: input }, [DEPTH_OUTPUT]));
    const t = out[DEPTH_OUTPUT] as ort.Tensor;
    const dims = t.dims as readonly number[];
    const ok = t.type === 'float32' && dims[0] === 1 && (dims.length === 3 || (dims.length === 4 && dims[1] === 1));
    if (!ok) throw new ProcessingError(`depth: ${DEPTH_OUTPUT} is ${t.type} [${dims.join(', ')}]; expected float32 [1, H, W] or [1, 1, H, W]`);
    const height = dims[dims.length - 2]!;
    const width = dims[dims.length - 1]!;
    const raw = t.data as Float32Array;
    const values = new Float32Array(width * height);
    const disparity = this.config.output === 'disparity';
    for (let i = 0; i < values.length; i++) {
      const v = raw[i]!;
      if (!Number.isFinite(v)) throw new ProcessingError(`depth: the model produced a non-finite value (${v}) at cell ${i}`);
      values[i] = disparity ? 1 / Math.max(v, DISPARITY_EPS) : v;
    }
    return { values, width, height, imageWidth: pre.imageWidth, imageHeight: pre.imageHeight };
  }

  /** The tool itself: the median depth inside bbox ([x1, y1, x2, y2], original pixels). */
  async depth(image: Buffer, bbox: readonly number[]): Promise<number> {
    return medianInBox(await this.depthMap(image), bbox);
  }
}

/** Start-up check of the names (and, where the model declares them, the shapes) we feed and read. */
function checkInterface(session: ort.InferenceSession, c: DepthModelConfig): void {
  const ins = session.inputNames;
  const outs = session.outputNames;
  if (ins.length !== 1 || ins[0] !== DEPTH_INPUT || !outs.includes(DEPTH_OUTPUT)) {
    throw new ConfigError(
      `depth model '${c.modelPath}' has inputs [${ins.join(', ')}] and outputs [${outs.join(', ')}]; expected the single input ` +
        `'${DEPTH_INPUT}' [N,3,H,W] float32 and an output '${DEPTH_OUTPUT}' [N,H,W] or [N,1,H,W] (see docs/depth-models.md)`,
    );
  }
  // A fixed-size export says so in its input shape: better refused now than on every record.
  const meta = session.inputMetadata[0];
  if (meta?.isTensor && meta.shape.length === 4) {
    const [, ch, h, w] = meta.shape;
    const fixed = (d: number | string | undefined, want: number) => typeof d !== 'number' || d <= 0 || d === want;
    if (!fixed(ch, 3) || !fixed(h, c.inputSize) || !fixed(w, c.inputSize)) {
      throw new ConfigError(
        `depth model '${c.modelPath}' takes ${DEPTH_INPUT} [${meta.shape.join(', ')}], which does not accept [N, 3, ${c.inputSize}, ${c.inputSize}]; ` +
          'set inputSize to the size it was exported at',
      );
    }
  }
}

const DEPTH_MODELS = loadedKind<DepthModel>('depth-model');

/** One depth session per model file and settings in the runtime's resources. */
export function loadDepthModel(resources: Resources, c: DepthModelOptions): Promise<DepthModel> {
  return resources.load(DEPTH_MODELS, JSON.stringify(c), () => DepthModel.load(c));
}
