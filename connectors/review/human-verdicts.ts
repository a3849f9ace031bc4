// People's decisions on boxes, as data. The review server appends each action as a
// HumanVerdict (schemas/human-verdicts.avsc) to the dataset directory's log, and on Kafka
// also to the valor.human-verdicts topic; the merged training set and every export apply
// them. The log is JSON lines of the Avro record, each checked against the schema on write
// and on read, so a hand-edited or torn line is named rather than half-applied.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ValidationError } from '../../core/errors';
import { lineageOf } from '../../core/lineage';
import { invalidPaths } from '../../schemas/catalog';
import type { HumanVerdict } from '../../schemas/generated/types';

/** The log's place in a dataset directory. */
export const HUMAN_VERDICTS_FILE = 'human-verdicts.jsonl';

/** Where verdicts are written and read back from. */
export interface HumanVerdictLog {
  append(v: HumanVerdict): Promise<void>;
  /** Every verdict so far, each id once, in the order written. */
  all(): Promise<HumanVerdict[]>;
  close(): Promise<void>;
}

export function checkVerdict(v: unknown): HumanVerdict {
  const bad = invalidPaths('HumanVerdict', v);
  if (bad.length) throw new ValidationError(`not a HumanVerdict (invalid: ${bad.join(', ')})`);
  const h = v as HumanVerdict;
  const b = h.box;
  if (!(b.x2 > b.x1 && b.y2 > b.y1 && b.x1 >= 0 && b.y1 >= 0 && b.x2 <= h.imageWidth && b.y2 <= h.imageHeight))
    throw new ValidationError(`verdict ${h.id}: box [${b.x1}, ${b.y1}, ${b.x2}, ${b.y2}] is empty or outside the ${h.imageWidth}x${h.imageHeight} image`);
  if (h.action === 'RELABEL' && !h.newLabel) throw new ValidationError(`verdict ${h.id}: RELABEL needs newLabel`);
  return h;
}

/** A verdict with its id, time and lineage filled in (the review server's constructor of records). */
export function newVerdict(v: Omit<HumanVerdict, 'id' | 'at' | 'lineage'>, now = Date.now()): HumanVerdict {
  return checkVerdict({
    ...v,
    id: randomUUID(),
    at: now,
    lineage: lineageOf('review', v.pseudoLabelIds, { reviewer: v.reviewer, ...(v.verifierVersions[0] ? { verifierVersion: v.verifierVersions[0] } : {}) }),
  });
}

/** The log file of a dataset directory. Appends are one write of one line, then fsync. */
export class FileHumanVerdictLog implements HumanVerdictLog {
  readonly file: string;
  constructor(datasetDir: string) {
    this.file = path.join(datasetDir, HUMAN_VERDICTS_FILE);
  }

  async append(v: HumanVerdict): Promise<void> {
    checkVerdict(v);
    const fh = await fs.promises.open(this.file, 'a');
    try {
      await fh.write(JSON.stringify(v) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async all(): Promise<HumanVerdict[]> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const seen = new Set<string>();
    const out: HumanVerdict[] = [];
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      // A torn last line (a crash mid-append) is not a decision anyone saw confirmed.
      if (i === lines.length - 1) return;
      let v: HumanVerdict;
      try {
        v = checkVerdict(JSON.parse(line));
      } catch (err) {
        throw new ValidationError(`${this.file}:${i + 1}: ${(err as Error).message}`);
      }
      if (seen.has(v.id)) return;
      seen.add(v.id);
      out.push(v);
    });
    return out;
  }

  async close(): Promise<void> {}
}

/** Verdicts by image sha256, each image's in the order they apply: by time, then id. */
export function verdictsByImage(verdicts: HumanVerdict[]): Map<string, HumanVerdict[]> {
  const seen = new Set<string>();
  const out = new Map<string, HumanVerdict[]>();
  for (const v of verdicts) {
    if (seen.has(v.id)) continue;
    seen.add(v.id);
    const list = out.get(v.imageSha256) ?? [];
    list.push(v);
    out.set(v.imageSha256, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}
