// The oracle's ground truth: checked records with the fingerprints of their images'
// decoded pixels, from memory or from a synthetic corpus's ground-truth.jsonl.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import sharp from 'sharp';
import { ValidationError } from '../../core/errors';
import type { BBox } from '../../evaluation/synthetic-scene';
import type { OracleImage, OracleObject } from './verifier-oracle-judge';

/** One ground-truth image with its bytes; width and height, when given, are checked against them. */
export interface OracleImageRecord {
  id: string;
  objects: OracleObject[];
  image: Buffer;
  width?: number;
  height?: number;
}

const FINGERPRINT_CONCURRENCY = 4;

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

/** Checks the records and fingerprints their images. */
export async function oracleImages(records: OracleImageRecord[]): Promise<OracleImage[]> {
  return mapLimit(records, FINGERPRINT_CONCURRENCY, async (r) => {
    const fp = await pixelFingerprint(r.image).catch((err: unknown) => {
      throw new ValidationError(`VerifierOracle: image '${r.id}' cannot be decoded: ${(err as Error).message}`, { cause: err });
    });
    if ((r.width !== undefined && r.width !== fp.width) || (r.height !== undefined && r.height !== fp.height)) {
      throw new ValidationError(`VerifierOracle: image '${r.id}' is ${fp.width}x${fp.height} but its record says ${r.width}x${r.height}`);
    }
    return { id: r.id, width: fp.width, height: fp.height, objects: checkObjects(r.objects, `image '${r.id}'`), fingerprint: fp.fingerprint };
  });
}

/**
 * The records of a synthetic corpus's ground-truth.jsonl (see synthetic-corpus.ts), one per
 * line with `id`, `image` (relative to the file), `width`, `height` and `objects`, with their
 * image bytes read.
 */
export async function readGroundTruth(groundTruthJsonl: string): Promise<OracleImageRecord[]> {
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
  return mapLimit(records, FINGERPRINT_CONCURRENCY, async (r) => {
    let bytes: Buffer;
    try {
      bytes = await readFile(r.file);
    } catch (err) {
      throw new ValidationError(`VerifierOracle: cannot read image '${r.id}' at ${r.file}: ${(err as Error).message}`, { cause: err });
    }
    return { id: r.id, objects: r.objects, image: bytes, width: r.width, height: r.height };
  });
}
