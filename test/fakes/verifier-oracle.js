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
exports.VerifierOracle = exports.FINAL_MATCH_IOU = exports.CROP_KEEP_IOU = exports.COARSE_KEEP_IOU = exports.normalizeCategory = exports.iou = void 0;
exports.pixelFingerprint = pixelFingerprint;
// A scripted VLM for tests and the demo: it answers the three VALOR verifier prompts as a
// model that sees the synthetic corpus's ground truth would, so the verification stage can
// be measured end to end without a real model. A fake OpenAI/Gemini server hands it the
// joined user text and the decoded images of each request.
//
// Which image a list request is about comes from the first image (the clean one): its
// decoded pixels are fingerprinted and looked up. Crops are resized, so a crop request is
// placed by the box and image size its prompt states, preferring the image(s) where that
// box was last seen in a list request (the cascade asks the coarse stage first).
const node_crypto_1 = require("node:crypto");
const promises_1 = require("node:fs/promises");
const path = __importStar(require("node:path"));
const sharp_1 = __importDefault(require("sharp"));
const errors_1 = require("../../core/errors");
const label_quality_1 = require("../../connectors/corpus/label-quality");
Object.defineProperty(exports, "iou", { enumerable: true, get: function () { return label_quality_1.iou; } });
Object.defineProperty(exports, "normalizeCategory", { enumerable: true, get: function () { return label_quality_1.normalizeCategory; } });
/** Coarse review keeps a box that overlaps a same-category object at least this much. */
exports.COARSE_KEEP_IOU = 0.5;
/** The crop stage is stricter: the object must fill the box well. */
exports.CROP_KEEP_IOU = 0.7;
/** Final review matches boxes to objects at this IoU before removing duplicates. */
exports.FINAL_MATCH_IOU = 0.5;
// Below this the box is not "on" the object at all (background or another object).
const TOUCH_IOU = 0.1;
// A box holding less of the object's area than this chops it; otherwise it is loose.
const CHOP_COVERAGE = 0.85;
// Bounds the memory of where list requests showed a box.
const MAX_REMEMBERED_BOXES = 200_000;
const FINGERPRINT_CONCURRENCY = 4;
/**
 * sha256 of an image's decoded pixels (alpha dropped) with its dimensions: the same for a
 * PNG and any lossless re-encoding of it, whatever the file bytes.
 */
async function pixelFingerprint(image) {
    const { data, info } = await (0, sharp_1.default)(image, { autoOrient: false }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const h = (0, node_crypto_1.createHash)('sha256').update(`${info.width}x${info.height}x${info.channels}\n`).update(data);
    return { fingerprint: h.digest('hex'), width: info.width, height: info.height };
}
/** Runs `fn` over `items` with at most `limit` in flight, keeping the order of results. */
async function mapLimit(items, limit, fn) {
    const out = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const i = next++;
            out[i] = await fn(items[i], i);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return out;
}
function checkBBox(v, where) {
    if (!Array.isArray(v) || v.length !== 4 || !v.every((n) => typeof n === 'number' && Number.isFinite(n))) {
        throw new errors_1.ValidationError(`${where}: bbox must be [x1, y1, x2, y2] of finite numbers, got ${JSON.stringify(v)}`);
    }
    return v;
}
function checkObjects(v, where) {
    if (!Array.isArray(v))
        throw new errors_1.ValidationError(`${where}: objects must be an array, got ${JSON.stringify(v)}`);
    return v.map((o, k) => {
        const obj = o;
        if (typeof obj?.category !== 'string' || !obj.category.trim())
            throw new errors_1.ValidationError(`${where}: objects[${k}].category must be a non-empty string`);
        return { category: obj.category, bbox: checkBBox(obj.bbox, `${where}: objects[${k}]`) };
    });
}
const fmtBox = (b) => `[${b.map((v) => Math.round(v)).join(',')}]`;
class VerifierOracle {
    stats = { requests: { coarse: 0, crop: 0, final: 0 }, unknownImages: 0, flippedDecisions: 0 };
    byFingerprint = new Map();
    bySize = new Map();
    /** "WxH|category|[x1,y1,x2,y2]" -> ids of the images a list request showed that box on. */
    seenBoxes = new Map();
    byId = new Map();
    errorRate;
    seed;
    /** From ground truth whose fingerprints are already known (see fromImages to compute them). */
    constructor(images, opts = {}) {
        this.errorRate = opts.errorRate ?? 0;
        this.seed = opts.seed ?? 0;
        if (!(Number.isFinite(this.errorRate) && this.errorRate >= 0 && this.errorRate <= 1)) {
            throw new errors_1.ValidationError(`VerifierOracle: errorRate must be a number in 0..1, got ${opts.errorRate}`);
        }
        if (!Number.isSafeInteger(this.seed))
            throw new errors_1.ValidationError(`VerifierOracle: seed must be an integer, got ${opts.seed}`);
        for (const img of images) {
            if (this.byId.has(img.id))
                throw new errors_1.ValidationError(`VerifierOracle: image id '${img.id}' appears twice in the ground truth`);
            this.byId.set(img.id, img);
            // Identical pixels with different truths cannot be told apart; the first one answers.
            if (img.fingerprint && !this.byFingerprint.has(img.fingerprint))
                this.byFingerprint.set(img.fingerprint, img);
            const key = `${img.width}x${img.height}`;
            const list = this.bySize.get(key) ?? [];
            list.push(img);
            this.bySize.set(key, list);
        }
    }
    /** From in-memory records with the image bytes; fingerprints are computed here. */
    static async fromImages(records, opts = {}) {
        const images = await mapLimit(records, FINGERPRINT_CONCURRENCY, async (r) => {
            const fp = await pixelFingerprint(r.image).catch((err) => {
                throw new errors_1.ValidationError(`VerifierOracle: image '${r.id}' cannot be decoded: ${err.message}`, { cause: err });
            });
            if ((r.width !== undefined && r.width !== fp.width) || (r.height !== undefined && r.height !== fp.height)) {
                throw new errors_1.ValidationError(`VerifierOracle: image '${r.id}' is ${fp.width}x${fp.height} but its record says ${r.width}x${r.height}`);
            }
            return { id: r.id, width: fp.width, height: fp.height, objects: checkObjects(r.objects, `image '${r.id}'`), fingerprint: fp.fingerprint };
        });
        return new VerifierOracle(images, opts);
    }
    /**
     * From a synthetic corpus's ground-truth.jsonl (see synthetic-corpus.ts): one record per
     * line with `id`, `image` (relative to the file), `width`, `height` and `objects`.
     */
    static async fromGroundTruth(groundTruthJsonl, opts = {}) {
        const dir = path.dirname(path.resolve(groundTruthJsonl));
        const text = await (0, promises_1.readFile)(groundTruthJsonl, 'utf8');
        const records = [];
        text.split('\n').forEach((line, n) => {
            if (!line.trim())
                return;
            const where = `${groundTruthJsonl}:${n + 1}`;
            let r;
            try {
                r = JSON.parse(line);
            }
            catch (err) {
                throw new errors_1.ValidationError(`${where}: not valid JSON: ${err.message}`);
            }
            if (typeof r.id !== 'string' || !r.id)
                throw new errors_1.ValidationError(`${where}: id must be a non-empty string`);
            if (typeof r.image !== 'string' || !r.image)
                throw new errors_1.ValidationError(`${where}: image must be a path relative to the ground-truth file`);
            if (!Number.isInteger(r.width) || !Number.isInteger(r.height))
                throw new errors_1.ValidationError(`${where}: width and height must be integers`);
            records.push({ id: r.id, file: path.resolve(dir, r.image), width: r.width, height: r.height, objects: checkObjects(r.objects, where) });
        });
        const images = await mapLimit(records, FINGERPRINT_CONCURRENCY, async (r) => {
            let bytes;
            try {
                bytes = await (0, promises_1.readFile)(r.file);
            }
            catch (err) {
                throw new errors_1.ValidationError(`VerifierOracle: cannot read image '${r.id}' at ${r.file}: ${err.message}`, { cause: err });
            }
            return { id: r.id, objects: r.objects, image: bytes, width: r.width, height: r.height };
        });
        return VerifierOracle.fromImages(images, opts);
    }
    /** The oracle function the fake servers call; bound, so it can be passed on its own. */
    answer = async (req) => {
        const stage = VerifierOracle.stageOf(req.text);
        this.stats.requests[stage]++;
        if (stage === 'crop')
            return JSON.stringify(this.answerCrop(req));
        return JSON.stringify(await this.answerList(stage, req));
    };
    /** Which prompt a request carries (the phrases are in models/verifier/prompts/*.md). */
    static stageOf(text) {
        const t = text.toLowerCase();
        if (t.includes('dominant object'))
            return 'crop';
        if (t.includes('final review'))
            return 'final';
        return 'coarse';
    }
    // ---- list stages (coarse, final) ----
    async answerList(stage, req) {
        const boxes = parseBoxList(req.text, stage);
        const first = req.images[0];
        if (!first)
            throw new errors_1.ValidationError(`oracle ${stage} request: no image (the first image must be the clean image)`);
        let fp;
        try {
            fp = (await pixelFingerprint(first)).fingerprint;
        }
        catch (err) {
            throw new errors_1.ValidationError(`oracle ${stage} request: the first image cannot be decoded: ${err.message}`, { cause: err });
        }
        const img = this.byFingerprint.get(fp) ?? null;
        if (!img)
            this.stats.unknownImages++;
        else {
            const size = parseSize(req.text) ?? { width: img.width, height: img.height };
            for (const b of boxes)
                this.remember(size, b, img.id);
        }
        const objects = img?.objects ?? [];
        const decisions = stage === 'coarse' ? boxes.map((b) => judgeCoarse(b, objects)) : judgeFinal(boxes, objects);
        const keep = [];
        const drop = [];
        const notes = [];
        boxes.forEach((b, k) => {
            let { keep: kept, reason } = decisions[k];
            if (this.flip(req.text, b.index)) {
                kept = !kept;
                reason = `unsure this is a ${b.label}`;
            }
            if (kept)
                keep.push(b.index);
            else {
                drop.push(b.index);
                notes.push(`${b.index}: ${reason}`);
            }
        });
        return { keep_indices: keep, drop_indices: drop, notes };
    }
    remember(size, b, id) {
        const key = boxKey(size.width, size.height, b.label, b.bbox);
        const ids = this.seenBoxes.get(key);
        if (ids) {
            ids.add(id);
            return;
        }
        // Oldest first out: Map keeps insertion order.
        if (this.seenBoxes.size >= MAX_REMEMBERED_BOXES)
            this.seenBoxes.delete(this.seenBoxes.keys().next().value);
        this.seenBoxes.set(key, new Set([id]));
    }
    // ---- crop stage ----
    answerCrop(req) {
        const m = /box_px=\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]/.exec(req.text);
        if (!m)
            throw new errors_1.ValidationError('oracle crop request: no box_px=[x1,y1,x2,y2] in the prompt');
        const size = parseSize(req.text);
        if (!size)
            throw new errors_1.ValidationError("oracle crop request: no '<width>x<height> image' in the prompt");
        // Greedy to the line's last quote: the crop prompt does not strip quotes from the label
        // (the list prompt does, so they are dropped here too before any comparison).
        const lm = /object is:\s*'(.*)'/.exec(req.text) ?? /clearly an? '(.*)'/.exec(req.text);
        if (!lm)
            throw new errors_1.ValidationError("oracle crop request: no label (\"The detector says the object is: '<label>'\") in the prompt");
        const box = { index: 1, label: lm[1].replace(/'/g, ''), bbox: [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] };
        const sameSize = this.bySize.get(`${size.width}x${size.height}`) ?? [];
        const seen = this.seenBoxes.get(boxKey(size.width, size.height, box.label, box.bbox));
        const candidates = seen ? [...seen].map((id) => this.byId.get(id)) : sameSize;
        if (candidates.length === 0)
            this.stats.unknownImages++;
        let { keep, reason } = judgeCrop(box, candidates);
        if (this.flip(req.text, 1)) {
            keep = !keep;
            reason = keep ? `looks like a ${box.label}` : `unclear whether this is a ${box.label}`;
        }
        return { keep, reason };
    }
    // ---- simulated errors ----
    /** A deterministic coin: the same request, index and seed always land the same way. */
    flip(text, index) {
        if (this.errorRate === 0)
            return false;
        const h = (0, node_crypto_1.createHash)('sha256').update(`${this.seed}\u0000${index}\u0000${text}`).digest();
        const u = h.readUInt32BE(0) / 2 ** 32;
        const flipped = u < this.errorRate;
        if (flipped)
            this.stats.flippedDecisions++;
        return flipped;
    }
}
exports.VerifierOracle = VerifierOracle;
// ---- parsing the prompts ----
function boxKey(width, height, label, b) {
    return `${width}x${height}|${(0, label_quality_1.normalizeCategory)(label)}|${fmtBox(b)}`;
}
/** The image size a prompt states ("... of a 640x480 image"). */
function parseSize(text) {
    const m = /(\d+)x(\d+) image/.exec(text);
    return m ? { width: Number(m[1]), height: Number(m[2]) } : null;
}
/** The method's box list: `i: label='l', box_px=[x1,y1,x2,y2]`, one per line. */
function parseBoxList(text, stage) {
    const re = /^\s*(\d+):\s*label='([^']*)',\s*box_px=\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]\s*$/gm;
    const out = [];
    for (const m of text.matchAll(re)) {
        out.push({ index: Number(m[1]), label: m[2], bbox: [Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])] });
    }
    if (out.length === 0)
        throw new errors_1.ValidationError(`oracle ${stage} request: no box lines of the form "i: label='l', box_px=[x1,y1,x2,y2]" in the prompt`);
    return out;
}
function bestMatch(b, objects, sameCategory) {
    const cat = (0, label_quality_1.normalizeCategory)(b.label);
    let best = null;
    for (const o of objects) {
        if (((0, label_quality_1.normalizeCategory)(o.category) === cat) !== sameCategory)
            continue;
        const v = (0, label_quality_1.iou)(b.bbox, o.bbox);
        if (!best || v > best.iou)
            best = { object: o, iou: v };
    }
    return best;
}
/** Share of the object's area inside the box: low when the box chops it. */
function coverage(b, o) {
    const ix = Math.max(0, Math.min(b[2], o[2]) - Math.max(b[0], o[0]));
    const iy = Math.max(0, Math.min(b[3], o[3]) - Math.max(b[1], o[1]));
    const area = (o[2] - o[0]) * (o[3] - o[1]);
    return area > 0 ? (ix * iy) / area : 0;
}
/** Why a box that is not good enough was dropped, in the words of the prompts. */
function whyNot(b, same, other, stage) {
    if (other && other.iou >= exports.COARSE_KEEP_IOU && (!same || other.iou > same.iou)) {
        return stage === 'crop' ? `wrong class: the dominant object is a ${other.object.category}` : `wrong label: this is a ${other.object.category}`;
    }
    if (same && same.iou >= TOUCH_IOU) {
        if (coverage(b.bbox, same.object.bbox) < CHOP_COVERAGE)
            return stage === 'crop' ? `too tight: the ${b.label} is truncated by the box` : `bad box: chops the ${b.label}`;
        return stage === 'crop' ? `too loose: the box has a lot of background around the ${b.label}` : `bad box: too loose around the ${b.label}`;
    }
    return stage === 'crop' ? `wrong class: no ${b.label} in the crop` : `no ${b.label} here: mostly background`;
}
function judgeCoarse(b, objects) {
    const same = bestMatch(b, objects, true);
    if (same && same.iou >= exports.COARSE_KEEP_IOU)
        return { keep: true, reason: '' };
    return { keep: false, reason: whyNot(b, same, bestMatch(b, objects, false), 'coarse') };
}
/** The crop's image is one of `candidates`; judged on the one where the box fits best. */
function judgeCrop(b, candidates) {
    let same = null;
    let other = null;
    for (const img of candidates) {
        const s = bestMatch(b, img.objects, true);
        const o = bestMatch(b, img.objects, false);
        if (s && (!same || s.iou > same.iou))
            same = s;
        if (o && (!other || o.iou > other.iou))
            other = o;
    }
    if (same && same.iou >= exports.CROP_KEEP_IOU)
        return { keep: true, reason: `clearly a ${b.label}` };
    return { keep: false, reason: whyNot(b, same, other, 'crop') };
}
/**
 * Final review: each box goes to its best same-category object (IoU >= FINAL_MATCH_IOU);
 * per object the box with the highest IoU stays (ties: the lower number) and the rest are
 * duplicates; boxes matching no object carry a wrong label.
 */
function judgeFinal(boxes, objects) {
    const matched = boxes.map((b) => {
        const m = bestMatch(b, objects, true);
        return m && m.iou >= exports.FINAL_MATCH_IOU ? m : null;
    });
    const winner = new Map(); // object -> position in `boxes`
    matched.forEach((m, k) => {
        if (!m)
            return;
        const w = winner.get(m.object);
        if (w === undefined || m.iou > matched[w].iou || (m.iou === matched[w].iou && boxes[k].index < boxes[w].index))
            winner.set(m.object, k);
    });
    return boxes.map((b, k) => {
        const m = matched[k];
        if (!m) {
            const other = bestMatch(b, objects, false);
            return { keep: false, reason: other && other.iou >= exports.FINAL_MATCH_IOU ? `wrong label: this is a ${other.object.category}` : `wrong label: no ${b.label} here` };
        }
        const w = winner.get(m.object);
        return w === k ? { keep: true, reason: '' } : { keep: false, reason: `duplicate of box ${boxes[w].index}` };
    });
}
//# sourceMappingURL=verifier-oracle.js.map