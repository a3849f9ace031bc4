// Detector throughput on the generated test model at GroundingDINO's real input size
// (images resized to 800 x 1333): images/s with batch 1 vs 4 and the time split between
// decode+resize, inference and post-processing; peak memory. Prints `name: value unit`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { GroundingDino } from '../models/detector/grounding-dino';
import { writeTestDetector } from '../models/detector/test-model';
import { GDINO_RESIZE, preprocessImage } from '../models/images/preprocess';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 16);

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-detect-'));
  const model = writeTestDetector(dir);
  // 1000x600 PNGs resize to 1333x800, the largest input GroundingDINO takes.
  const images = await Promise.all(
    Array.from({ length: IMAGES }, (_, i) =>
      sharp({ create: { width: 1000, height: 600, channels: 3, background: { r: (i * 37) % 255, g: 120, b: 200 } } })
        .png()
        .toBuffer(),
    ),
  );
  for (const layout of ['original', 'huggingface'] as const) {
    for (const batchSize of [1, 4]) {
      const det = await GroundingDino.load({
        modelPath: layout === 'original' ? model.original : model.huggingface,
        tokenizerPath: model.tokenizerJson,
        boxThreshold: 0.1,
        textThreshold: 0.1,
        batchSize,
        maxTextLen: 256,
      });
      const t0 = performance.now();
      const pre = [];
      for (const img of images) pre.push(await preprocessImage(img, GDINO_RESIZE));
      const tPre = performance.now() - t0;
      await det.detect(pre.map((p) => ({ image: p, phrases: ['red circle', 'blue square'] })));
      const total = performance.now() - t0;
      const name = `detect_${layout}_batch${batchSize}`;
      console.log(`${name}_input: ${pre[0]!.width}x${pre[0]!.height} pixels`);
      console.log(`${name}: ${((IMAGES * 1000) / total).toFixed(2)} images/s`);
      console.log(`${name}_decode_resize: ${(tPre / IMAGES).toFixed(1)} ms/image`);
      console.log(`${name}_inference: ${(det.timings.inferenceMs / IMAGES).toFixed(1)} ms/image`);
      console.log(`${name}_postprocess: ${(det.timings.postprocessMs / IMAGES).toFixed(1)} ms/image`);
    }
  }
  console.log(`detect_peak_rss: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
