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
Object.defineProperty(exports, "__esModule", { value: true });
exports.DEFAULT_NOISE = void 0;
exports.simulateProposals = simulateProposals;
exports.simulatedProposalRecords = simulatedProposalRecords;
// Simulated low-threshold detector output on the synthetic corpus, for measuring the
// verification stage on its own. The stand-in ONNX detector has GroundingDINO's interface
// but random weights, so its boxes say nothing about the image; these proposals have the
// failure modes the verifier exists to remove, at known rates: loose boxes, boxes that
// chop the object, near-duplicates, wrong labels and background boxes, around one tight
// box per object.
const fs = __importStar(require("node:fs"));
const ids_1 = require("../../core/ids");
const lineage_1 = require("../../core/lineage");
const label_quality_1 = require("./label-quality");
const synthetic_corpus_1 = require("./synthetic-corpus");
exports.DEFAULT_NOISE = { loose: 0.6, chopped: 0.4, duplicate: 0.5, wrongLabel: 0.3, background: 2 };
function clip(b, w, h) {
    return [Math.max(0, b[0]), Math.max(0, b[1]), Math.min(w, b[2]), Math.min(h, b[3])];
}
/** Proposals for one image and the phrases asked for, sorted by score (highest first). */
function simulateProposals(truth, phrases, seed = 1, noise = exports.DEFAULT_NOISE) {
    const rnd = (0, synthetic_corpus_1.mulberry32)((Number.parseInt((0, ids_1.sha256Hex)(`${seed}:${truth.id}`).slice(0, 8), 16) >>> 0) || 1);
    const between = (lo, hi) => lo + (hi - lo) * rnd();
    const { width: W, height: H } = truth;
    const out = [];
    const push = (b, label, score) => {
        const [x1, y1, x2, y2] = clip(b, W, H);
        if (x2 - x1 >= 2 && y2 - y1 >= 2)
            out.push({ x1, y1, x2, y2, label, score: Math.round(score * 1000) / 1000 });
    };
    const asked = phrases.map((p) => p.trim()).filter(Boolean);
    for (const o of truth.objects) {
        const label = asked.find((p) => p.toLowerCase() === o.category.toLowerCase());
        if (!label)
            continue;
        const [x1, y1, x2, y2] = o.bbox;
        const w = x2 - x1;
        const h = y2 - y1;
        const j = (s) => between(-s, s);
        push([x1 + j(2), y1 + j(2), x2 + j(2), y2 + j(2)], label, between(0.45, 0.9));
        if (rnd() < noise.loose) {
            const f = between(0.15, 0.4);
            push([x1 - f * w, y1 - f * h, x2 + f * w, y2 + f * h], label, between(0.2, 0.4));
        }
        if (rnd() < noise.chopped) {
            const cut = between(0.4, 0.6);
            const side = Math.floor(rnd() * 4);
            const b = [x1, y1, x2, y2];
            if (side === 0)
                b[0] += cut * w;
            else if (side === 1)
                b[1] += cut * h;
            else if (side === 2)
                b[2] -= cut * w;
            else
                b[3] -= cut * h;
            push(b, label, between(0.15, 0.35));
        }
        if (rnd() < noise.duplicate)
            push([x1 + j(4), y1 + j(4), x2 + j(4), y2 + j(4)], label, between(0.3, 0.5));
        const other = asked.find((p) => p !== label);
        if (other && rnd() < noise.wrongLabel)
            push([x1 + j(2), y1 + j(2), x2 + j(2), y2 + j(2)], other, between(0.1, 0.3));
    }
    const nBg = Math.floor(rnd() * (noise.background + 1));
    for (let i = 0; i < nBg && asked.length; i++) {
        const w = between(0.08, 0.25) * W;
        const h = between(0.08, 0.25) * H;
        const x = between(0, W - w);
        const y = between(0, H - h);
        push([x, y, x + w, y + h], asked[Math.floor(rnd() * asked.length)], between(0.1, 0.2));
    }
    return out.sort((a, b) => b.score - a.score);
}
/**
 * DetectorProposals records for a synthetic corpus, as the detect node would write them
 * (image by file path with its sha256), one per image, asking for the question's phrases.
 */
function simulatedProposalRecords(groundTruthFile, opts = {}) {
    const truth = (0, label_quality_1.readGroundTruth)(groundTruthFile);
    const out = [];
    for (const t of truth.values()) {
        // The question names two objects; their categories are what the planner would ask for.
        const phrases = opts.phrases?.(t) ?? [...new Set(t.objects.map((o) => o.category).filter((c) => t.question.includes(c)))];
        const bytes = fs.readFileSync(t.imagePath);
        const boxes = simulateProposals(t, phrases, opts.seed ?? 1, opts.noise);
        const id = (0, ids_1.deterministicId)('prop', 'simulated', t.id, opts.seed ?? 1);
        out.push({
            id,
            requestId: `${t.id}-req`,
            queryId: t.id,
            image: { uri: t.imagePath, bytes: null, sha256: (0, ids_1.sha256Hex)(bytes), width: t.width, height: t.height, mediaType: 'image/png' },
            imageWidth: t.width,
            imageHeight: t.height,
            caption: phrases.map((p) => p.replace(/ /g, '-')).join(' . ') + ' .',
            phrases,
            boxes,
            detector: { modelSha256: 'simulated', layout: 'simulated', boxThreshold: 0.1, textThreshold: 0.1 },
            createdAt: 0,
            lineage: (0, lineage_1.lineageOf)('simulated-detector', [t.id], { 'detector.kind': 'simulated', 'detector.seed': String(opts.seed ?? 1) }),
        });
    }
    return out;
}
//# sourceMappingURL=synthetic-proposals.js.map