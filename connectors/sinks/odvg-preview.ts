// A first look at a training set without any tool: the accepted boxes of a few records drawn
// on their images as PNGs (the same drawing code as the verifier's annotated images).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { annotate } from '../../models/verifier/verifier-images';
import { odvgLineBoxes, OdvgRecord, readTrainEntries } from './odvg';

/** Writes up to `max` previews of records with boxes into `outDir`; returns their paths. */
export async function writePreviews(datasetDir: string, outDir: string, max: number): Promise<string[]> {
  const train = readTrainEntries(datasetDir);
  if (!train.length) return [];
  fs.mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const entry of train) {
    for (const text of fs.readFileSync(entry.anno, 'utf8').split('\n')) {
      if (written.length >= max) return written;
      if (!text.trim()) continue;
      const r = JSON.parse(text) as OdvgRecord;
      const boxes = odvgLineBoxes(r);
      if (boxes.length === 0) continue;
      const out = path.join(outDir, path.basename(r.filename).replace(/\.[^.]+$/, '') + '.png');
      const png = await annotate(fs.readFileSync(path.join(entry.root, r.filename)), boxes);
      fs.writeFileSync(out, png.png);
      written.push(out);
    }
  }
  return written;
}
