"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.normalizeCategory = normalizeCategory;
exports.odvgBox = odvgBox;
exports.categoriesOf = categoriesOf;
exports.odvgSignature = odvgSignature;
exports.toOdvg = toOdvg;
exports.labelMapJson = labelMapJson;
exports.datasetJson = datasetJson;
// Open-GroundingDino's ODVG format (method, Loop 1 step 5). One JSON object per line:
//   OD: {"filename", "height", "width", "detection": {"instances": [{"bbox", "label", "category"}]}}
//   VG: {"filename", "height", "width", "grounding": {"caption", "regions": [{"bbox", "phrase"}]}}
// bbox is absolute-pixel xyxy, rounded to integers and clamped to [0, W-1] x [0, H-1] as the
// reference does; `label` indexes label_map.json; `category` is lowercased, '-' -> ' ',
// whitespace collapsed. The loader reads filename, bbox and label in OD mode and crashes on
// an empty `regions` list in VG mode, so such records are never written.
const node_crypto_1 = require("node:crypto");
function normalizeCategory(label) {
    return label.toLowerCase().replace(/-/g, ' ').replace(/\s+/g, ' ').trim();
}
function clamp(v, lo, hi) {
    return Math.min(hi, Math.max(lo, v));
}
/** Integer xyxy inside the image; null when nothing of the box is left. */
function odvgBox(b, width, height) {
    const x1 = clamp(Math.round(b.x1), 0, width - 1);
    const y1 = clamp(Math.round(b.y1), 0, height - 1);
    const x2 = clamp(Math.round(b.x2), 0, width - 1);
    const y2 = clamp(Math.round(b.y2), 0, height - 1);
    return x2 > x1 && y2 > y1 ? [x1, y1, x2, y2] : null;
}
/** Categories a pseudo-label needs ids for, in order of first appearance. */
function categoriesOf(p) {
    return [...new Set(p.accepted.map((b) => normalizeCategory(b.label)).filter(Boolean))];
}
/**
 * The record's de-duplication signature: SHA-1 of its canonical JSON (filename, size and
 * the sorted (category, bbox) pairs), as the reference does, so re-runs are idempotent.
 */
function odvgSignature(filename, width, height, pairs) {
    const sorted = [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1].join(',') < b[1].join(',') ? -1 : a[1].join(',') > b[1].join(',') ? 1 : 0));
    return (0, node_crypto_1.createHash)('sha1').update(JSON.stringify({ filename, width, height, boxes: sorted })).digest('hex');
}
/**
 * The ODVG line for one pseudo-label, or null when there is nothing to write: no accepted
 * box and negatives are skipped, or VG mode (which cannot express an image with no region).
 */
function toOdvg(p, filename, labelIds, opts) {
    const { width, height } = p;
    const boxes = p.accepted
        .map((b) => ({ category: normalizeCategory(b.label), bbox: odvgBox(b, width, height) }))
        .filter((b) => b.bbox !== null && b.category !== '');
    const pairs = boxes.map((b) => [b.category, b.bbox]);
    const signature = odvgSignature(filename, width, height, pairs);
    if (opts.mode === 'vg') {
        if (boxes.length === 0)
            return null;
        const caption = opts.caption ?? [...new Set(boxes.map((b) => b.category))].join(' . ') + ' .';
        return { signature, record: { filename, height, width, grounding: { caption, regions: boxes.map((b) => ({ bbox: b.bbox, phrase: b.category })) } } };
    }
    if (boxes.length === 0 && !opts.keepNegativeOnly)
        return null;
    const instances = boxes.map((b) => {
        const label = labelIds.get(b.category);
        if (label === undefined)
            throw new Error(`no label id for category '${b.category}' (the label registry must assign it first)`);
        return { bbox: b.bbox, label, category: b.category };
    });
    return { signature, record: { filename, height, width, detection: { instances } } };
}
/** label_map.json: string keys, as the loader indexes it. */
function labelMapJson(labels) {
    return JSON.stringify(Object.fromEntries(labels.map((l, i) => [String(i), l])), null, 2) + '\n';
}
/** The dataset json Open-GroundingDino's config points at. */
function datasetJson(root, anno, labelMap) {
    return JSON.stringify({ train: [{ root, anno, label_map: labelMap, dataset_mode: 'odvg' }] }, null, 2) + '\n';
}
//# sourceMappingURL=odvg.js.map