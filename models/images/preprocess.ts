// GroundingDINO input preparation, matching the reference inference transform:
//   Image.open(p).convert("RGB") -> RandomResize([800], max_size=1333) -> ToTensor -> Normalize(ImageNet)
// Two deliberate parity choices:
//  - No EXIF auto-rotation: the reference loads with PIL and never calls exif_transpose,
//    so boxes are in the stored pixel grid (sharp 0.35 does not auto-orient by default).
//  - Decode first, then resize from raw RGB. A single sharp pipeline would resize before
//    dropping alpha (premultiplied, unlike PIL's convert("RGB") then resize) and would use
//    JPEG shrink-on-load (DCT downscaling PIL does not do); two passes keep PIL's order.
import sharp, { type OutputInfo } from 'sharp';
import { ImageRefusedError } from './image-intake';

export interface ResizeSpec {
  shortSide: number;
  maxSize: number;
}

export const GDINO_RESIZE: ResizeSpec = { shortSide: 800, maxSize: 1333 };

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface Preprocessed {
  /** CHW float32, ImageNet-normalised. */
  data: Float32Array;
  width: number;
  height: number;
  origWidth: number;
  origHeight: number;
}

/** Python's round(): ties go to the even neighbour (a plain Math.round can exceed maxSize). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * GroundingDINO's get_size_with_aspect_ratio, operation for operation (same float
 * evaluation order, int() truncation, banker's rounding) so sizes match the reference
 * exactly, e.g. 4x2 at (800, 1333) -> 1332x666 where Math.round would give 1334x667.
 */
export function targetSize(w: number, h: number, spec: ResizeSpec): { width: number; height: number } {
  let size = spec.shortSide;
  const minOrig = Math.min(w, h);
  const maxOrig = Math.max(w, h);
  if ((maxOrig / minOrig) * size > spec.maxSize) size = roundHalfEven((spec.maxSize * minOrig) / maxOrig);
  if ((w <= h && w === size) || (h <= w && h === size)) return { width: w, height: h };
  if (w < h) return { width: size, height: Math.trunc((size * h) / w) };
  return { width: Math.trunc((size * w) / h), height: size };
}

// torchvision computes in float32: (float32(v) / 255 - mean) / std, each step rounded to
// float32. A per-channel table of the 256 results reproduces that bit for bit.
const IMAGENET_LUT: Float32Array[] = [0, 1, 2].map((c) => {
  const t = new Float32Array(256);
  const m = Math.fround(IMAGENET_MEAN[c]!);
  const s = Math.fround(IMAGENET_STD[c]!);
  for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  return t;
});

function decodeRefusal(err: unknown, source: string): ImageRefusedError {
  const msg = (err as Error).message ?? String(err);
  if (/pixel limit/i.test(msg)) return new ImageRefusedError(source, `over the pixel limit (decompression bomb guard): ${msg}`, { cause: err });
  if (/unsupported image format/i.test(msg)) return new ImageRefusedError(source, 'unsupported format: the bytes are not a recognised image', { cause: err });
  return new ImageRefusedError(source, `corrupt or truncated image data: ${msg}`, { cause: err });
}

/**
 * Decodes, converts to 8-bit sRGB without alpha, resizes to targetSize (bilinear) and
 * normalises. Truncated or corrupt pixel data is refused here: failOn 'error' aborts on
 * decoder errors (truncation included) but not on the benign warnings PIL also ignores.
 */
export async function preprocessImage(bytes: Buffer, spec: ResizeSpec, maxPixels = 40_000_000, source = 'image'): Promise<Preprocessed> {
  if (bytes.length === 0) throw new ImageRefusedError(source, 'empty image (0 bytes)');
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels, autoOrient: false })
      .removeAlpha() // PIL's convert("RGB") drops alpha; it does not composite onto a background
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw decodeRefusal(err, source);
  }
  const { width: W, height: H, channels } = decoded.info;
  if (channels !== 3) throw new ImageRefusedError(source, `decoded to ${channels} channels, expected 3`);
  const t = targetSize(W, H, spec);
  if (t.width < 1 || t.height < 1) throw new ImageRefusedError(source, `aspect ratio ${W}x${H} is too extreme to resize`);

  let rgb = decoded.data;
  if (t.width !== W || t.height !== H) {
    // 'linear' is libvips' bilinear reduce/enlarge, the nearest match to PIL BILINEAR (which
    // torchvision's F.resize uses on PIL images); both widen the kernel when downscaling.
    rgb = await sharp(decoded.data, { raw: { width: W, height: H, channels: 3 }, limitInputPixels: false })
      .resize(t.width, t.height, { kernel: 'linear', fit: 'fill' })
      .raw()
      .toBuffer();
  }

  return { data: normalizedChw(rgb, t.width * t.height), width: t.width, height: t.height, origWidth: W, origHeight: H };
}

/** Interleaved RGB bytes -> ImageNet-normalised planes [3, H, W] in float32 (torchvision's numbers). */
export function normalizedChw(rgb: Buffer, plane: number): Float32Array {
  const data = new Float32Array(3 * plane);
  const [l0, l1, l2] = IMAGENET_LUT as [Float32Array, Float32Array, Float32Array];
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    data[i] = l0[rgb[j]!]!;
    data[plane + i] = l1[rgb[j + 1]!]!;
    data[2 * plane + i] = l2[rgb[j + 2]!]!;
  }
  return data;
}

/**
 * Stacks images of different sizes into one [B,3,H,W] tensor, zero-padded at the bottom
 * and right as GroundingDINO's nested_tensor_from_tensor_list does. pixelMask is 1 on real
 * pixels (the HF pixel_mask convention; the original NestedTensor mask is its inverse).
 */
export function padBatch(items: Preprocessed[]): {
  data: Float32Array;
  pixelMask: BigInt64Array;
  batch: number;
  height: number;
  width: number;
} {
  if (items.length === 0) throw new RangeError('padBatch: no images');
  const B = items.length;
  const H = Math.max(...items.map((it) => it.height));
  const W = Math.max(...items.map((it) => it.width));
  const data = new Float32Array(B * 3 * H * W);
  const pixelMask = new BigInt64Array(B * H * W);
  items.forEach((it, b) => {
    const { width: w, height: h } = it;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) {
        const src = c * h * w + y * w;
        data.set(it.data.subarray(src, src + w), ((b * 3 + c) * H + y) * W);
      }
    }
    for (let y = 0; y < h; y++) pixelMask.fill(1n, (b * H + y) * W, (b * H + y) * W + w);
  });
  return { data, pixelMask, batch: B, height: H, width: W };
}
