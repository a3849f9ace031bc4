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
exports.verifierPromptsConfig = void 0;
exports.loadVerifierPrompts = loadVerifierPrompts;
exports.fillPrompt = fillPrompt;
exports.boxLines = boxLines;
exports.boxText = boxText;
// Versioned prompt files for the three verifier stages. A record carries the sha256 of the
// file that judged it, so any edit changes the hash (and misses the verdict cache).
const fs = __importStar(require("node:fs"));
const path = __importStar(require("node:path"));
const zod_1 = require("zod");
const errors_1 = require("../../core/errors");
const ids_1 = require("../../core/ids");
// Compiled code runs from dist/, where prompt files are not copied: look in the source tree too.
const PROMPT_DIRS = [path.join(__dirname, 'prompts'), path.join(__dirname, '..', '..', '..', 'models', 'verifier', 'prompts')];
exports.verifierPromptsConfig = zod_1.z
    .object({
    coarse: zod_1.z.string().min(1).default('coarse-v1.md'),
    crop: zod_1.z.string().min(1).default('crop-v1.md'),
    final: zod_1.z.string().min(1).default('final-v1.md'),
})
    .strict();
/** A bare file name is looked up among the shipped prompts; a path is used as given. */
function resolvePrompt(name, field) {
    const candidates = name.includes('/') || name.includes(path.sep) ? [path.resolve(name)] : PROMPT_DIRS.map((d) => path.join(d, name));
    const found = candidates.find((c) => fs.existsSync(c));
    if (!found)
        throw new errors_1.ConfigError(`${field}: prompt file '${name}' not found (looked in ${candidates.join(', ')})`);
    return found;
}
function loadVerifierPrompts(cfg) {
    const load = (name, field) => {
        const file = resolvePrompt(name, field);
        const text = fs.readFileSync(file, 'utf8');
        return { file, text, hash: (0, ids_1.sha256Hex)(text).slice(0, 16) };
    };
    return { COARSE: load(cfg.coarse, 'prompts.coarse'), CROP: load(cfg.crop, 'prompts.crop'), FINAL: load(cfg.final, 'prompts.final') };
}
/** Fills `{{name}}` placeholders; an unknown placeholder is a prompt bug, so it fails loudly. */
function fillPrompt(prompt, values) {
    return prompt.text.replace(/\{\{(\w+)\}\}/g, (_, k) => {
        if (!(k in values))
            throw new errors_1.ConfigError(`prompt ${prompt.file} uses {{${k}}}, which the verifier does not provide`);
        return String(values[k]);
    });
}
const r = (n) => Math.round(n);
/** The method's box list: `i: label='l', box_px=[x1,y1,x2,y2]`, 1-based, integer pixels. */
function boxLines(boxes) {
    return boxes.map((b, i) => `${i + 1}: label='${b.label.replace(/'/g, '')}', box_px=[${r(b.x1)},${r(b.y1)},${r(b.x2)},${r(b.y2)}]`).join('\n');
}
function boxText(b) {
    return `[${r(b.x1)},${r(b.y1)},${r(b.x2)},${r(b.y2)}]`;
}
//# sourceMappingURL=prompts.js.map