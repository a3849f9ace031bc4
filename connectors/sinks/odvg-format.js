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
exports.OdvgFormat = exports.DATASET_FILE = exports.LABELS_TXT = exports.LABEL_MAP_FILE = void 0;
// The ODVG sink's SinkFormat: a pseudo-label becomes one ODVG line (OD or VG), its image is
// materialised once under a content address, its categories get stable label ids, and the
// dataset index (label_map.json, labels.txt, dataset.json) is rewritten when shards close.
const path = __importStar(require("node:path"));
const image_store_1 = require("./image-store");
const odvg_1 = require("./odvg");
exports.LABEL_MAP_FILE = 'label_map.json';
exports.LABELS_TXT = 'labels.txt';
exports.DATASET_FILE = 'dataset.json';
class OdvgFormat {
    o;
    name = 'odvg';
    images;
    writtenLabels = -1;
    constructor(o) {
        this.o = o;
        this.images = new image_store_1.ImageStore(o.storage, o.images);
    }
    async format(p) {
        const cats = (0, odvg_1.categoriesOf)(p);
        if (p.accepted.length === 0 && (this.o.mode === 'vg' || !this.o.keepNegativeOnly))
            return null;
        const filename = await this.images.materialise(p.image);
        const ids = this.o.mode === 'od' ? await this.o.labels.idsFor(cats) : new Map();
        const out = (0, odvg_1.toOdvg)(p, filename, ids, { mode: this.o.mode, keepNegativeOnly: this.o.keepNegativeOnly });
        if (!out)
            return null;
        return { line: JSON.stringify(out.record), signature: out.signature, versions: [p.verifierVersion] };
    }
    /** label_map.json / labels.txt from the registry, dataset.json from every finished shard. */
    async onShardsClosed() {
        const labels = this.o.labels.labels();
        if (labels.length !== this.writtenLabels) {
            await this.o.storage.writeAtomic(exports.LABEL_MAP_FILE, (0, odvg_1.labelMapJson)(labels));
            await this.o.storage.writeAtomic(exports.LABELS_TXT, labels.join('\n') + (labels.length ? '\n' : ''));
            this.writtenLabels = labels.length;
        }
        const shards = (await this.o.storage.list(this.o.shardDir)).filter((f) => f.name.endsWith('.jsonl'));
        const root = this.o.rootPath;
        const train = shards.map((f) => ({
            ...JSON.parse((0, odvg_1.datasetJson)(root, path.join(root, this.o.shardDir, f.name), path.join(root, exports.LABEL_MAP_FILE))).train[0],
            ...(this.o.mode === 'vg' ? { label_map: null } : {}),
        }));
        await this.o.storage.writeAtomic(exports.DATASET_FILE, JSON.stringify({ train }, null, 2) + '\n');
    }
}
exports.OdvgFormat = OdvgFormat;
//# sourceMappingURL=odvg-format.js.map