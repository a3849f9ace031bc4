// Precision and recall of an ODVG dataset on disk against a synthetic corpus's ground truth:
// the training set as a trainer would read it (dataset.json -> annotation files), not the
// topics it was built from. Images are matched by content hash (the sink stores them under
// it), so the measure holds whatever the images were called in the corpus.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '../core/ids';
import { odvgLineBoxes, OdvgRecord, readTrainEntries } from '../connectors/sinks/odvg';
import { labelQuality, normalizeCategory, Quality, readGroundTruth } from './label-quality';
import type { GroundTruthRecord } from './synthetic-corpus';

export interface DatasetQuality extends Quality {
  /** Records (images) in the training set, and those the ground truth knows. */
  records: number;
  matchedImages: number;
}

/**
 * `asked`: per image sha256, the categories some query asked for; an object counts for recall
 * only when asked (a detector is not expected to find what no one asked for).
 */
export function datasetQuality(datasetDir: string, groundTruthFile: string, asked: Map<string, Set<string>>): DatasetQuality {
  const bySha = new Map<string, GroundTruthRecord>();
  for (const t of readGroundTruth(groundTruthFile).values()) bySha.set(sha256Hex(fs.readFileSync(t.imagePath)), t);
  const items: Parameters<typeof labelQuality>[0] = [];
  let records = 0;
  for (const { anno: file } of readTrainEntries(datasetDir)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      records++;
      const r = JSON.parse(line) as OdvgRecord;
      const sha = path.basename(r.filename).replace(/\.[^.]+$/, '');
      const truth = bySha.get(sha);
      if (!truth) continue;
      const boxes = odvgLineBoxes(r).map((b) => ({ ...b, score: 1 }));
      items.push({ boxes, phrases: [...(asked.get(sha) ?? [])].map(normalizeCategory), truth });
    }
  }
  return { ...labelQuality(items), records, matchedImages: items.length };
}
