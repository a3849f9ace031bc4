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
exports.DetectorTokenizer = void 0;
exports.bertTokenizerJson = bertTokenizerJson;
exports.textMasks = textMasks;
const fs = __importStar(require("node:fs"));
const node_module_1 = require("node:module");
const errors_1 = require("../../core/errors");
const ids_1 = require("../../core/ids");
// @huggingface/tokenizers is ESM-only. Node >= 20.19 loads ESM through require(); a
// native require also works under jest, whose own module loader cannot load ESM.
const nativeRequire = (0, node_module_1.createRequire)(__filename);
/** The BERT-uncased tokenizer.json structure, for users who only have a vocab.txt. */
function bertTokenizerJson(vocab) {
    const ids = {};
    vocab.forEach((t, i) => (ids[t] = i));
    const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => t in ids);
    for (const t of ['[UNK]', '[CLS]', '[SEP]']) {
        if (!(t in ids))
            throw new errors_1.ConfigError(`vocab.txt has no ${t} token: not a BERT vocabulary`);
    }
    return {
        version: '1.0',
        truncation: null,
        padding: null,
        added_tokens: specials.map((content) => ({ id: ids[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        post_processor: {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
            pair: [],
            special_tokens: { '[CLS]': { id: '[CLS]', ids: [ids['[CLS]']], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [ids['[SEP]']], tokens: ['[SEP]'] } },
        },
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
        model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: ids },
    };
}
/**
 * GroundingDINO's text tokenizer (bert-base-uncased) loaded offline from the model's
 * tokenizer.json or vocab.txt through @huggingface/tokenizers.
 */
class DetectorTokenizer {
    sha256;
    tok;
    vocab;
    /** [CLS], [SEP], "." and "?": the tokens that delimit GroundingDINO's sub-sentences. */
    specialIds;
    padId;
    clsId;
    sepId;
    constructor(json, sourceText) {
        const { Tokenizer } = nativeRequire('@huggingface/tokenizers');
        this.tok = new Tokenizer(json, {});
        this.sha256 = (0, ids_1.sha256Hex)(sourceText);
        const v = json.model?.vocab;
        if (!v || typeof v !== 'object')
            throw new errors_1.ConfigError('tokenizer.json has no model.vocab: expected a WordPiece (BERT) tokenizer');
        this.vocab = new Map(Object.entries(v));
        const id = (t) => {
            const x = this.vocab.get(t);
            if (x === undefined)
                throw new errors_1.ConfigError(`tokenizer has no '${t}' token: GroundingDINO needs a BERT vocabulary`);
            return x;
        };
        this.clsId = id('[CLS]');
        this.sepId = id('[SEP]');
        this.padId = this.vocab.get('[PAD]') ?? 0;
        this.specialIds = new Set([this.clsId, this.sepId, id('.'), ...(this.vocab.has('?') ? [id('?')] : [])]);
    }
    static fromFile(file) {
        let text;
        try {
            text = fs.readFileSync(file, 'utf8');
        }
        catch (err) {
            throw new errors_1.ConfigError(`cannot read tokenizer ${file}: ${err.message}`);
        }
        if (file.endsWith('.txt')) {
            const vocab = text.split(/\r?\n/).filter((l, i, a) => l.length > 0 || i < a.length - 1);
            return new DetectorTokenizer(bertTokenizerJson(vocab), text);
        }
        try {
            return new DetectorTokenizer(JSON.parse(text), text);
        }
        catch (err) {
            if (err instanceof errors_1.ConfigError)
                throw err;
            throw new errors_1.ConfigError(`tokenizer ${file} is not a tokenizer.json: ${err.message}`);
        }
    }
    /** Token ids with [CLS]/[SEP], truncated to maxLen keeping the closing [SEP]. */
    encode(caption, maxLen = 256) {
        const ids = this.tok.encode(caption).ids;
        if (ids.length <= maxLen)
            return ids;
        return [...ids.slice(0, maxLen - 1), this.sepId];
    }
    decode(ids) {
        return this.tok.decode(ids, { skip_special_tokens: false });
    }
}
exports.DetectorTokenizer = DetectorTokenizer;
/**
 * GroundingDINO's generate_masks_with_special_tokens_and_transfer_map: every special
 * token closes a block; tokens of a block attend to each other and count positions from
 * 0; a special token at the first or last index attends to itself with position 0.
 */
function textMasks(ids, specialIds) {
    const n = ids.length;
    const positionIds = new Array(n).fill(0);
    const att = new Uint8Array(n * n);
    for (let i = 0; i < n; i++)
        att[i * n + i] = 1;
    let previous = 0;
    for (let col = 0; col < n; col++) {
        if (!specialIds.has(ids[col]))
            continue;
        if (col === 0 || col === n - 1) {
            positionIds[col] = 0;
        }
        else {
            for (let r = previous + 1; r <= col; r++) {
                positionIds[r] = r - previous - 1;
                for (let c = previous + 1; c <= col; c++)
                    att[r * n + c] = 1;
            }
        }
        previous = col;
    }
    return { positionIds, selfAttention: att };
}
//# sourceMappingURL=tokenizer.js.map