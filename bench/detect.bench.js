"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
// Detector throughput on the generated test model at GroundingDINO's real input size
// (images resized to 800 x 1333): images/s with batch 1 vs 4 and the time split between
// decode+resize, inference and post-processing; peak memory. Prints `name: value unit`.
const fs = __importStar(require("node:fs"));
const os = __importStar(require("node:os"));
const path = __importStar(require("node:path"));
const sharp_1 = __importDefault(require("sharp"));
const grounding_dino_1 = require("../models/detector/grounding-dino");
const test_model_1 = require("../models/detector/test-model");
const preprocess_1 = require("../models/images/preprocess");
const IMAGES = Number(process.env.BENCH_IMAGES ?? 16);
async function main() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-detect-'));
    const model = (0, test_model_1.writeTestDetector)(dir);
    // 1000x600 PNGs resize to 1333x800, the largest input GroundingDINO takes.
    const images = await Promise.all(Array.from({ length: IMAGES }, (_, i) => (0, sharp_1.default)({ create: { width: 1000, height: 600, channels: 3, background: { r: (i * 37) % 255, g: 120, b: 200 } } }).png().toBuffer()));
    for (const layout of ['original', 'huggingface']) {
        for (const batchSize of [1, 4]) {
            const det = await grounding_dino_1.GroundingDino.load({
                modelPath: layout === 'original' ? model.original : model.huggingface,
                tokenizerPath: model.tokenizerJson,
                boxThreshold: 0.1,
                textThreshold: 0.1,
                batchSize,
                maxTextLen: 256,
            });
            const t0 = performance.now();
            const pre = [];
            for (const img of images)
                pre.push(await (0, preprocess_1.preprocessImage)(img, preprocess_1.GDINO_RESIZE));
            const tPre = performance.now() - t0;
            await det.detect(pre.map((p) => ({ image: p, phrases: ['red circle', 'blue square'] })));
            const total = performance.now() - t0;
            const name = `detect_${layout}_batch${batchSize}`;
            console.log(`${name}_input: ${pre[0].width}x${pre[0].height} pixels`);
            console.log(`${name}: ${((IMAGES * 1000) / total).toFixed(2)} images/s`);
            console.log(`${name}_decode_resize: ${(tPre / IMAGES).toFixed(1)} ms/image`);
            console.log(`${name}_inference: ${(det.timings.inferenceMs / IMAGES).toFixed(1)} ms/image`);
            console.log(`${name}_postprocess: ${(det.timings.postprocessMs / IMAGES).toFixed(1)} ms/image`);
        }
    }
    console.log(`detect_peak_rss: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}
main().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
});
//# sourceMappingURL=detect.bench.js.map