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
exports.normalizeCategory = normalizeCategory;
exports.iou = iou;
exports.matchImage = matchImage;
exports.labelQuality = labelQuality;
exports.readGroundTruth = readGroundTruth;
exports.formatQuality = formatQuality;
// Label quality against a known ground truth: precision and recall of boxes at an IoU
// threshold, matched greedily by score within each category (the usual detection rule).
const fs = __importStar(require("node:fs"));
const path = __importStar(require("node:path"));
function normalizeCategory(s) {
    return s.toLowerCase().replace(/[-_]+/g, ' ').replace(/\s+/g, ' ').trim();
}
function iou(a, b) {
    const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
    const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
    const inter = ix * iy;
    const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return union > 0 ? inter / union : 0;
}
/** True positives among `boxes` for one image: each object matches at most one box. */
function matchImage(boxes, objects, iouThreshold = 0.5) {
    const used = new Set();
    let tp = 0;
    for (const b of [...boxes].sort((x, y) => y.score - x.score)) {
        const cat = normalizeCategory(b.label);
        let best = -1;
        let bestIou = iouThreshold;
        objects.forEach((o, i) => {
            if (used.has(i) || normalizeCategory(o.category) !== cat)
                return;
            const v = iou([b.x1, b.y1, b.x2, b.y2], o.bbox);
            if (v >= bestIou)
                [best, bestIou] = [i, v];
        });
        if (best >= 0) {
            used.add(best);
            tp++;
        }
    }
    return tp;
}
/**
 * Sums over images. For each image the objects that count are those of the categories
 * that were asked for (`phrases`): a detector is not expected to find what it was not asked.
 */
function labelQuality(items, iouThreshold = 0.5) {
    let boxes = 0;
    let objects = 0;
    let tp = 0;
    for (const it of items) {
        const asked = new Set(it.phrases.map(normalizeCategory));
        const objs = it.truth.objects.filter((o) => asked.has(normalizeCategory(o.category)));
        boxes += it.boxes.length;
        objects += objs.length;
        tp += matchImage(it.boxes, objs, iouThreshold);
    }
    return { boxes, objects, truePositives: tp, precision: boxes ? tp / boxes : 0, recall: objects ? tp / objects : 0 };
}
function readGroundTruth(file) {
    const dir = path.dirname(file);
    const out = new Map();
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (!line.trim())
            continue;
        const r = JSON.parse(line);
        out.set(r.id, { ...r, imagePath: path.resolve(dir, r.image) });
    }
    return out;
}
function formatQuality(name, q) {
    return `${name}: precision ${q.precision.toFixed(3)} recall ${q.recall.toFixed(3)} (${q.truePositives} true of ${q.boxes} boxes; ${q.objects} objects)`;
}
//# sourceMappingURL=label-quality.js.map