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
import { ValidationError } from '../../core/errors';
import { judgeCoarse, judgeCrop, judgeFinal, type ListedBox, type OracleImage } from './verifier-oracle-judge';
import { boxKey, parseBoxList, parseCrop, parseSize, stageOf, type OracleStage } from './verifier-oracle-prompts';
import { oracleImages, pixelFingerprint, readGroundTruth, type OracleImageRecord } from './verifier-oracle-truth';

export { iou, normalizeCategory } from '../../evaluation/label-quality';

/** What the fake server passes: all user text parts joined with "\n", images in order. */
export interface OracleRequest {
  text: string;
  images: Buffer[];
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

// Bounds the memory of where list requests showed a box.
const MAX_REMEMBERED_BOXES = 200_000;

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
  static async fromImages(records: OracleImageRecord[], opts: VerifierOracleOptions = {}): Promise<VerifierOracle> {
    return new VerifierOracle(await oracleImages(records), opts);
  }

  /**
   * From a synthetic corpus's ground-truth.jsonl (see synthetic-corpus.ts): one record per
   * line with `id`, `image` (relative to the file), `width`, `height` and `objects`.
   */
  static async fromGroundTruth(groundTruthJsonl: string, opts: VerifierOracleOptions = {}): Promise<VerifierOracle> {
    return VerifierOracle.fromImages(await readGroundTruth(groundTruthJsonl), opts);
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
    return stageOf(text);
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
    const { box, size } = parseCrop(req.text);
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
