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
exports.GroundingDino = exports.LAYOUTS = void 0;
exports.detectLayout = detectLayout;
const fs = __importStar(require("node:fs"));
const ort = __importStar(require("onnxruntime-node"));
const errors_1 = require("../../core/errors");
const ids_1 = require("../../core/ids");
const preprocess_1 = require("../images/preprocess");
const caption_1 = require("./caption");
const postprocess_1 = require("./postprocess");
const tokenizer_1 = require("./tokenizer");
/** Input and output names of the two common GroundingDINO ONNX exports. */
exports.LAYOUTS = {
    original: {
        inputs: ['img', 'input_ids', 'attention_mask', 'position_ids', 'token_type_ids', 'text_token_mask'],
        logits: 'logits',
        boxes: 'boxes',
    },
    huggingface: {
        inputs: ['pixel_values', 'input_ids', 'token_type_ids', 'attention_mask', 'pixel_mask'],
        logits: 'logits',
        boxes: 'pred_boxes',
    },
};
/** Recognises the export from the session's input names; anything else fails at start-up. */
function detectLayout(inputNames, outputNames) {
    const have = [...inputNames].sort().join(',');
    for (const [name, l] of Object.entries(exports.LAYOUTS)) {
        if ([...l.inputs].sort().join(',') === have) {
            for (const out of [l.logits, l.boxes]) {
                if (!outputNames.includes(out)) {
                    throw new errors_1.ConfigError(`GroundingDINO ${name} layout needs output '${out}'; the model has outputs: ${outputNames.join(', ')}`);
                }
            }
            return name;
        }
    }
    throw new errors_1.ConfigError(`unknown GroundingDINO ONNX layout: model inputs are [${inputNames.join(', ')}]; expected either ` +
        `[${exports.LAYOUTS.original.inputs.join(', ')}] (original repository export) or ` +
        `[${exports.LAYOUTS.huggingface.inputs.join(', ')}] (Hugging Face export)`);
}
/** GroundingDINO on onnxruntime-node: text prep, batched inference, post-processing. */
class GroundingDino {
    session;
    layout;
    modelSha256;
    tokenizer;
    opts;
    timings = { inferenceMs: 0, postprocessMs: 0, calls: 0 };
    constructor(session, layout, modelSha256, tokenizer, opts) {
        this.session = session;
        this.layout = layout;
        this.modelSha256 = modelSha256;
        this.tokenizer = tokenizer;
        this.opts = opts;
    }
    static async load(opts) {
        let bytes;
        try {
            bytes = fs.readFileSync(opts.modelPath);
        }
        catch (err) {
            throw new errors_1.ConfigError(`cannot read the GroundingDINO model at '${opts.modelPath}' (nodes.detect.modelPath): ${err.message}. ` +
                'Export one as the README explains (Detector models).');
        }
        const tokenizer = tokenizer_1.DetectorTokenizer.fromFile(opts.tokenizerPath);
        let session;
        try {
            session = await ort.InferenceSession.create(bytes, {
                graphOptimizationLevel: 'all',
                ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
            });
        }
        catch (err) {
            throw new errors_1.ConfigError(`onnxruntime cannot load '${opts.modelPath}': ${err.message}`);
        }
        const layout = detectLayout(session.inputNames, session.outputNames);
        return new GroundingDino(session, layout, (0, ids_1.sha256Hex)(bytes), tokenizer, opts);
    }
    /** Runs items in batches of `batchSize` (original layout: only same-size images share a call). */
    async detect(items) {
        const results = new Array(items.length);
        const groups = [];
        if (this.layout === 'huggingface') {
            // pixel_mask tells the model which pixels are padding, so any sizes can share a call.
            for (let i = 0; i < items.length; i += this.opts.batchSize)
                groups.push(items.slice(i, i + this.opts.batchSize).map((_, j) => i + j));
        }
        else {
            // The original export takes no image mask: padding would change the features, so
            // only images of identical size are batched together.
            const bySize = new Map();
            items.forEach((it, i) => {
                const k = `${it.image.width}x${it.image.height}`;
                bySize.set(k, [...(bySize.get(k) ?? []), i]);
            });
            for (const idx of bySize.values())
                for (let i = 0; i < idx.length; i += this.opts.batchSize)
                    groups.push(idx.slice(i, i + this.opts.batchSize));
        }
        for (const g of groups) {
            const out = await this.run(g.map((i) => items[i]));
            g.forEach((i, j) => (results[i] = out[j]));
        }
        return results;
    }
    async run(items) {
        const B = items.length;
        const captions = items.map((it) => (0, caption_1.buildCaption)(it.phrases));
        const ids = captions.map((c) => this.tokenizer.encode(c.caption, this.opts.maxTextLen));
        const T = Math.max(...ids.map((x) => x.length));
        const inputIds = new BigInt64Array(B * T).fill(BigInt(this.tokenizer.padId));
        const attention = new Uint8Array(B * T);
        const positions = new BigInt64Array(B * T);
        const textMask = new Uint8Array(B * T * T);
        ids.forEach((row, b) => {
            // Masks are computed over the padded row, as the reference tokenizes with padding="longest".
            const padded = [...row, ...new Array(T - row.length).fill(this.tokenizer.padId)];
            const m = (0, tokenizer_1.textMasks)(padded, this.tokenizer.specialIds);
            for (let t = 0; t < T; t++) {
                inputIds[b * T + t] = BigInt(padded[t]);
                attention[b * T + t] = t < row.length ? 1 : 0;
                positions[b * T + t] = BigInt(m.positionIds[t]);
            }
            textMask.set(m.selfAttention, b * T * T);
        });
        const batch = (0, preprocess_1.padBatch)(items.map((it) => it.image));
        const img = new ort.Tensor('float32', batch.data, [B, 3, batch.height, batch.width]);
        const tokenTypes = new ort.Tensor('int64', new BigInt64Array(B * T), [B, T]);
        const idsT = new ort.Tensor('int64', inputIds, [B, T]);
        const feeds = this.layout === 'original'
            ? {
                img,
                input_ids: idsT,
                attention_mask: new ort.Tensor('bool', attention, [B, T]),
                position_ids: new ort.Tensor('int64', positions, [B, T]),
                token_type_ids: tokenTypes,
                text_token_mask: new ort.Tensor('bool', textMask, [B, T, T]),
            }
            : {
                pixel_values: img,
                input_ids: idsT,
                token_type_ids: tokenTypes,
                attention_mask: new ort.Tensor('int64', BigInt64Array.from(attention, (v) => BigInt(v)), [B, T]),
                pixel_mask: new ort.Tensor('int64', batch.pixelMask, [B, batch.height, batch.width]),
            };
        const t0 = performance.now();
        const out = await this.session.run(feeds);
        const t1 = performance.now();
        const names = exports.LAYOUTS[this.layout];
        const logits = out[names.logits];
        const boxes = out[names.boxes];
        const [, Q, L] = logits.dims;
        const logitData = logits.data;
        const boxData = boxes.data;
        const results = items.map((it, b) => ({
            caption: captions[b].caption,
            boxes: (0, postprocess_1.postprocess)({
                logits: logitData.subarray(b * Q * L, (b + 1) * Q * L),
                boxes: boxData.subarray(b * Q * 4, (b + 1) * Q * 4),
                numQueries: Q,
                logitWidth: L,
                ids: ids[b],
                boxThreshold: this.opts.boxThreshold,
                textThreshold: this.opts.textThreshold,
                parts: captions[b].parts,
                labels: captions[b].labels,
                decode: (x) => this.tokenizer.decode(x),
                width: it.image.origWidth,
                height: it.image.origHeight,
            }),
        }));
        this.timings.inferenceMs += t1 - t0;
        this.timings.postprocessMs += performance.now() - t1;
        this.timings.calls++;
        return results;
    }
}
exports.GroundingDino = GroundingDino;
//# sourceMappingURL=grounding-dino.js.map