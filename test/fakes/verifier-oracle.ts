// A scripted VLM for tests and the demo: it answers the three VALOR verifier prompts as a
// model that sees the synthetic corpus's ground truth would, so the verification stage can
// be measured end to end without a real model. A fake OpenAI/Gemini server hands it the
// joined user text and the decoded images of each request.
//
// Which image a list request is about comes from the first image (the clean one): its
// decoded pixels are fingerprinted and looked up. Crops are resized, so a crop request is
// placed by the box and image size its prompt states, preferring the image(s) where that
// box was last seen in a list request (the cascade asks the coarse stage first).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import sharp from 'sharp';
import { ValidationError } from '../../core/errors';
import { iou, normalizeCategory } from '../../evaluation/label-quality';
import type { BBox } from '../../evaluation/synthetic-corpus';

export { iou, normalizeCategory };

/** What the fake server passes: all user text parts joined with "\n", images in order. */
export interface OracleRequest {
  text: string;
  images: Buffer[];
}

export type OracleStage = 'coarse' | 'crop' | 'final';

export interface OracleObject {
  category: string;
  bbox: BBox;
}

/** One ground-truth image as the oracle knows it. */
export interface OracleImage {
  id: string;
  width: number;
  height: number;
  objects: OracleObject[];
  /** pixelFingerprint() of the image; without it the image is found by crop requests only. */
  fingerprint?: string;
}

export interface VerifierOracleOptions {
  /** Chance that any one keep/drop decision is flipped (a deliberately imperfect verifier). */
  errorRate?: number;
  /** Varies which decisions errorRate flips. */
  seed?: number;
}

export interface OracleStats {
  requests: Record<OracleStage, number>;
  /** Requests whose image matched no ground-truth image (judged as having no objects). */
  unknownImages: number;
  /** Decisions flipped by errorRate. */
  flippedDecisions: number;
}

/** Coarse review keeps a box that overlaps a same-category object at least this much. */
export const COARSE_KEEP_IOU = 0.5;
/** The crop stage is stricter: the object must fill the box well. */
export const CROP_KEEP_IOU = 0.7;
/** Final review matches boxes to objects at this IoU before removing duplicates. */
export const FINAL_MATCH_IOU = 0.5;
// Below this the box is not "on" the object at all (background or another object).
const TOUCH_IOU = 0.1;
// A box holding less of the object's area than this chops it; otherwise it is loose.
const CHOP_COVERAGE = 0.85;
// Bounds the memory of where list requests showed a box.
const MAX_REMEMBERED_BOXES = 200_000;
const FINGERPRINT_CONCURRENCY = 4;

interface ListedBox {
  index: number;
  label: string;
  bbox: BBox;
}

/**
 * sha256 of an image's decoded pixels (alpha dropped) with its dimensions: the same for a
 * PNG and any lossless re-encoding of it, whatever the file bytes.
 */
export async function pixelFingerprint(image: Buffer): Promise<{ fingerprint: string; width: number; height: number }> {
  const { data, info } = await sharp(image, { autoOrient: false }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const h = createHash('sha256').update(`${info.width}x${info.height}x${info.channels}\n`).update(data);
  return { fingerprint: h.digest('hex'), width: info.width, height: info.height };
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping the order of results. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function checkBBox(v: unknown, where: string): BBox {
  if (!Array.isArray(v) || v.length !== 4 || !v.every((n) => typeof n === 'number' && Number.isFinite(n))) {
    throw new ValidationError(`${where}: bbox must be [x1, y1, x2, y2] of finite numbers, got ${JSON.stringify(v)}`);
  }
  return v as BBox;
}

function checkObjects(v: unknown, where: string): OracleObject[] {
  if (!Array.isArray(v)) throw new ValidationError(`${where}: objects must be an array, got ${JSON.stringify(v)}`);
  return v.map((o: unknown, k) => {
    const obj = o as { category?: unknown; bbox?: unknown };
    if (typeof obj?.category !== 'string' || !obj.category.trim()) throw new ValidationError(`${where}: objects[${k}].category must be a non-empty string`);
    return { category: obj.category, bbox: checkBBox(obj.bbox, `${where}: objects[${k}]`) };
  });
}

const fmtBox = (b: BBox) => `[${b.map((v) => Math.round(v)).join(',')}]`;

export class VerifierOracle {
  readonly stats: OracleStats = { requests: { coarse: 0, crop: 0, final: 0 }, unknownImages: 0, flippedDecisions: 0 };
  private readonly byFingerprint = new Map<string, OracleImage>();
  private readonly bySize = new Map<string, OracleImage[]>();
  /** "WxH|category|[x1,y1,x2,y2]" -> ids of the images a list request showed that box on. */
  private readonly seenBoxes = new Map<string, Set<string>>();
  private readonly byId = new Map<string, OracleImage>();
  private readonly errorRate: number;
  private readonly seed: number;

  /** From ground truth whose fingerprints are already known (see fromImages to compute them). */
  constructor(images: OracleImage[], opts: VerifierOracleOptions = {}) {
    this.errorRate = opts.errorRate ?? 0;
    this.seed = opts.seed ?? 0;
    if (!(Number.isFinite(this.errorRate) && this.errorRate >= 0 && this.errorRate <= 1)) {
      throw new ValidationError(`VerifierOracle: errorRate must be a number in 0..1, got ${opts.errorRate}`);
    }
    if (!Number.isSafeInteger(this.seed)) throw new ValidationError(`VerifierOracle: seed must be an integer, got ${opts.seed}`);
    for (const img of images) {
      if (this.byId.has(img.id)) throw new ValidationError(`VerifierOracle: image id '${img.id}' appears twice in the ground truth`);
      this.byId.set(img.id, img);
      // Identical pixels with different truths cannot be told apart; the first one answers.
      if (img.fingerprint && !this.byFingerprint.has(img.fingerprint)) this.byFingerprint.set(img.fingerprint, img);
      const key = `${img.width}x${img.height}`;
      const list = this.bySize.get(key) ?? [];
      list.push(img);
      this.bySize.set(key, list);
    }
  }

  /** From in-memory records with the image bytes; fingerprints are computed here. */
  static async fromImages(
    records: Array<{ id: string; objects: OracleObject[]; image: Buffer; width?: number; height?: number }>,
    opts: VerifierOracleOptions = {},
  ): Promise<VerifierOracle> {
    const images = await mapLimit(records, FINGERPRINT_CONCURRENCY, async (r) => {
      const fp = await pixelFingerprint(r.image).catch((err: unknown) => {
        throw new ValidationError(`VerifierOracle: image '${r.id}' cannot be decoded: ${(err as Error).message}`, { cause: err });
      });
      if ((r.width !== undefined && r.width !== fp.width) || (r.height !== undefined && r.height !== fp.height)) {
        throw new ValidationError(`VerifierOracle: image '${r.id}' is ${fp.width}x${fp.height} but its record says ${r.width}x${r.height}`);
      }
      return { id: r.id, width: fp.width, height: fp.height, objects: checkObjects(r.objects, `image '${r.id}'`), fingerprint: fp.fingerprint };
    });
    return new VerifierOracle(images, opts);
  }

  /**
   * From a synthetic corpus's ground-truth.jsonl (see synthetic-corpus.ts): one record per
   * line with `id`, `image` (relative to the file), `width`, `height` and `objects`.
   */
  static async fromGroundTruth(groundTruthJsonl: string, opts: VerifierOracleOptions = {}): Promise<VerifierOracle> {
    const dir = path.dirname(path.resolve(groundTruthJsonl));
    const text = await readFile(groundTruthJsonl, 'utf8');
    const records: Array<{ id: string; file: string; width: number; height: number; objects: OracleObject[] }> = [];
    text.split('\n').forEach((line, n) => {
      if (!line.trim()) return;
      const where = `${groundTruthJsonl}:${n + 1}`;
      let r: { id?: unknown; image?: unknown; width?: unknown; height?: unknown; objects?: unknown };
      try {
        r = JSON.parse(line);
      } catch (err) {
        throw new ValidationError(`${where}: not valid JSON: ${(err as Error).message}`);
      }
      if (typeof r.id !== 'string' || !r.id) throw new ValidationError(`${where}: id must be a non-empty string`);
      if (typeof r.image !== 'string' || !r.image) throw new ValidationError(`${where}: image must be a path relative to the ground-truth file`);
      if (!Number.isInteger(r.width) || !Number.isInteger(r.height)) throw new ValidationError(`${where}: width and height must be integers`);
      records.push({ id: r.id, file: path.resolve(dir, r.image), width: r.width as number, height: r.height as number, objects: checkObjects(r.objects, where) });
    });
    const images = await mapLimit(records, FINGERPRINT_CONCURRENCY, async (r) => {
      let bytes: Buffer;
      try {
        bytes = await readFile(r.file);
      } catch (err) {
        throw new ValidationError(`VerifierOracle: cannot read image '${r.id}' at ${r.file}: ${(err as Error).message}`, { cause: err });
      }
      return { id: r.id, objects: r.objects, image: bytes, width: r.width, height: r.height };
    });
    return VerifierOracle.fromImages(images, opts);
  }

  /** The oracle function the fake servers call; bound, so it can be passed on its own. */
  readonly answer = async (req: OracleRequest): Promise<string> => {
    const stage = VerifierOracle.stageOf(req.text);
    this.stats.requests[stage]++;
    if (stage === 'crop') return JSON.stringify(this.answerCrop(req));
    return JSON.stringify(await this.answerList(stage, req));
  };

  /** Which prompt a request carries (the phrases are in models/verifier/prompts/*.md). */
  static stageOf(text: string): OracleStage {
    const t = text.toLowerCase();
    if (t.includes('dominant object')) return 'crop';
    if (t.includes('final review')) return 'final';
    return 'coarse';
  }

  // ---- list stages (coarse, final) ----

  private async answerList(stage: 'coarse' | 'final', req: OracleRequest): Promise<{ keep_indices: number[]; drop_indices: number[]; notes: string[] }> {
    const boxes = parseBoxList(req.text, stage);
    const first = req.images[0];
    if (!first) throw new ValidationError(`oracle ${stage} request: no image (the first image must be the clean image)`);
    let fp: string;
    try {
      fp = (await pixelFingerprint(first)).fingerprint;
    } catch (err) {
      throw new ValidationError(`oracle ${stage} request: the first image cannot be decoded: ${(err as Error).message}`, { cause: err });
    }
    const img = this.byFingerprint.get(fp) ?? null;
    if (!img) this.stats.unknownImages++;
    else {
      const size = parseSize(req.text) ?? { width: img.width, height: img.height };
      for (const b of boxes) this.remember(size, b, img.id);
    }
    const objects = img?.objects ?? [];
    const decisions = stage === 'coarse' ? boxes.map((b) => judgeCoarse(b, objects)) : judgeFinal(boxes, objects);
    const keep: number[] = [];
    const drop: number[] = [];
    const notes: string[] = [];
    boxes.forEach((b, k) => {
      let { keep: kept, reason } = decisions[k]!;
      if (this.flip(req.text, b.index)) {
        kept = !kept;
        reason = `unsure this is a ${b.label}`;
      }
      if (kept) keep.push(b.index);
      else {
        drop.push(b.index);
        notes.push(`${b.index}: ${reason}`);
      }
    });
    return { keep_indices: keep, drop_indices: drop, notes };
  }

  private remember(size: { width: number; height: number }, b: ListedBox, id: string): void {
    const key = boxKey(size.width, size.height, b.label, b.bbox);
    const ids = this.seenBoxes.get(key);
    if (ids) {
      ids.add(id);
      return;
    }
    // Oldest first out: Map keeps insertion order.
    if (this.seenBoxes.size >= MAX_REMEMBERED_BOXES) this.seenBoxes.delete(this.seenBoxes.keys().next().value!);
    this.seenBoxes.set(key, new Set([id]));
  }

  // ---- crop stage ----

  private answerCrop(req: OracleRequest): { keep: boolean; reason: string } {
    const m = /box_px=\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]/.exec(req.text);
    if (!m) throw new ValidationError('oracle crop request: no box_px=[x1,y1,x2,y2] in the prompt');
    const size = parseSize(req.text);
    if (!size) throw new ValidationError("oracle crop request: no '<width>x<height> image' in the prompt");
    // Greedy to the line's last quote: the crop prompt does not strip quotes from the label
    // (the list prompt does, so they are dropped here too before any comparison).
    const lm = /object is:\s*'(.*)'/.exec(req.text) ?? /clearly an? '(.*)'/.exec(req.text);
    if (!lm) throw new ValidationError("oracle crop request: no label (\"The detector says the object is: '<label>'\") in the prompt");
    const box: ListedBox = { index: 1, label: lm[1]!.replace(/'/g, ''), bbox: [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] };

    const sameSize = this.bySize.get(`${size.width}x${size.height}`) ?? [];
    const seen = this.seenBoxes.get(boxKey(size.width, size.height, box.label, box.bbox));
    const candidates = seen ? [...seen].map((id) => this.byId.get(id)!) : sameSize;
    if (candidates.length === 0) this.stats.unknownImages++;
    let { keep, reason } = judgeCrop(box, candidates);
    if (this.flip(req.text, 1)) {
      keep = !keep;
      reason = keep ? `looks like a ${box.label}` : `unclear whether this is a ${box.label}`;
    }
    return { keep, reason };
  }

  // ---- simulated errors ----

  /** A deterministic coin: the same request, index and seed always land the same way. */
  private flip(text: string, index: number): boolean {
    if (this.errorRate === 0) return false;
    const h = createHash('sha256').update(`${this.seed}\u0000${index}\u0000${text}`).digest();
    const u = h.readUInt32BE(0) / 2 ** 32;
    const flipped = u < this.errorRate;
    if (flipped) this.stats.flippedDecisions++;
    return flipped;
  }
}

// ---- parsing the prompts ----

function boxKey(width: number, height: number, label: string, b: BBox): string {
  return `${width}x${height}|${normalizeCategory(label)}|${fmtBox(b)}`;
}

/** The image size a prompt states ("... of a 640x480 image"). */
function parseSize(text: string): { width: number; height: number } | null {
  const m = /(\d+)x(\d+) image/.exec(text);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : null;
}

/** The method's box list: `i: label='l', box_px=[x1,y1,x2,y2]`, one per line. */
function parseBoxList(text: string, stage: string): ListedBox[] {
  const re = /^\s*(\d+):\s*label='([^']*)',\s*box_px=\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]\s*$/gm;
  const out: ListedBox[] = [];
  for (const m of text.matchAll(re)) {
    out.push({ index: Number(m[1]), label: m[2]!, bbox: [Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])] });
  }
  if (out.length === 0) throw new ValidationError(`oracle ${stage} request: no box lines of the form "i: label='l', box_px=[x1,y1,x2,y2]" in the prompt`);
  return out;
}

// ---- judging ----

interface Decision {
  keep: boolean;
  reason: string;
}

interface Match {
  object: OracleObject;
  iou: number;
}

function bestMatch(b: ListedBox, objects: OracleObject[], sameCategory: boolean): Match | null {
  const cat = normalizeCategory(b.label);
  let best: Match | null = null;
  for (const o of objects) {
    if ((normalizeCategory(o.category) === cat) !== sameCategory) continue;
    const v = iou(b.bbox, o.bbox);
    if (!best || v > best.iou) best = { object: o, iou: v };
  }
  return best;
}

/** Share of the object's area inside the box: low when the box chops it. */
function coverage(b: BBox, o: BBox): number {
  const ix = Math.max(0, Math.min(b[2], o[2]) - Math.max(b[0], o[0]));
  const iy = Math.max(0, Math.min(b[3], o[3]) - Math.max(b[1], o[1]));
  const area = (o[2] - o[0]) * (o[3] - o[1]);
  return area > 0 ? (ix * iy) / area : 0;
}

/** Why a box that is not good enough was dropped, in the words of the prompts. */
function whyNot(b: ListedBox, same: Match | null, other: Match | null, stage: 'coarse' | 'crop'): string {
  if (other && other.iou >= COARSE_KEEP_IOU && (!same || other.iou > same.iou)) {
    return stage === 'crop' ? `wrong class: the dominant object is a ${other.object.category}` : `wrong label: this is a ${other.object.category}`;
  }
  if (same && same.iou >= TOUCH_IOU) {
    if (coverage(b.bbox, same.object.bbox) < CHOP_COVERAGE) return stage === 'crop' ? `too tight: the ${b.label} is truncated by the box` : `bad box: chops the ${b.label}`;
    return stage === 'crop' ? `too loose: the box has a lot of background around the ${b.label}` : `bad box: too loose around the ${b.label}`;
  }
  return stage === 'crop' ? `wrong class: no ${b.label} in the crop` : `no ${b.label} here: mostly background`;
}

function judgeCoarse(b: ListedBox, objects: OracleObject[]): Decision {
  const same = bestMatch(b, objects, true);
  if (same && same.iou >= COARSE_KEEP_IOU) return { keep: true, reason: '' };
  return { keep: false, reason: whyNot(b, same, bestMatch(b, objects, false), 'coarse') };
}

/** The crop's image is one of `candidates`; judged on the one where the box fits best. */
function judgeCrop(b: ListedBox, candidates: OracleImage[]): Decision {
  let same: Match | null = null;
  let other: Match | null = null;
  for (const img of candidates) {
    const s = bestMatch(b, img.objects, true);
    const o = bestMatch(b, img.objects, false);
    if (s && (!same || s.iou > same.iou)) same = s;
    if (o && (!other || o.iou > other.iou)) other = o;
  }
  if (same && same.iou >= CROP_KEEP_IOU) return { keep: true, reason: `clearly a ${b.label}` };
  return { keep: false, reason: whyNot(b, same, other, 'crop') };
}

/**
 * Final review: each box goes to its best same-category object (IoU >= FINAL_MATCH_IOU);
 * per object the box with the highest IoU stays (ties: the lower number) and the rest are
 * duplicates; boxes matching no object carry a wrong label.
 */
function judgeFinal(boxes: ListedBox[], objects: OracleObject[]): Decision[] {
  const matched = boxes.map((b) => {
    const m = bestMatch(b, objects, true);
    return m && m.iou >= FINAL_MATCH_IOU ? m : null;
  });
  const winner = new Map<OracleObject, number>(); // object -> position in `boxes`
  matched.forEach((m, k) => {
    if (!m) return;
    const w = winner.get(m.object);
    if (w === undefined || m.iou > matched[w]!.iou || (m.iou === matched[w]!.iou && boxes[k]!.index < boxes[w]!.index)) winner.set(m.object, k);
  });
  return boxes.map((b, k) => {
    const m = matched[k];
    if (!m) {
      const other = bestMatch(b, objects, false);
      return { keep: false, reason: other && other.iou >= FINAL_MATCH_IOU ? `wrong label: this is a ${other.object.category}` : `wrong label: no ${b.label} here` };
    }
    const w = winner.get(m.object)!;
    return w === k ? { keep: true, reason: '' } : { keep: false, reason: `duplicate of box ${boxes[w]!.index}` };
  });
}
