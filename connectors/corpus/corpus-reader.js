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
exports.corpusLineSchema = void 0;
exports.stableEventId = stableEventId;
exports.parseCorpusLine = parseCorpusLine;
exports.listCorpusFiles = listCorpusFiles;
exports.readCorpus = readCorpus;
exports.countLines = countLines;
// Reads image-query events from JSONL corpora. Lines are streamed, never loaded whole, so a
// corpus may be larger than memory; a bad line comes back as an error item rather than an
// exception, so the producer can dead-letter it and carry on.
const node_crypto_1 = require("node:crypto");
const node_fs_1 = require("node:fs");
const promises_1 = require("node:fs/promises");
const path = __importStar(require("node:path"));
const node_readline_1 = require("node:readline");
const node_url_1 = require("node:url");
const zod_1 = require("zod");
const errors_1 = require("../../core/errors");
const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
// Standard and URL-safe alphabets, optional padding; Buffer.from would silently skip junk.
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const imageRef = zod_1.z.union([
    zod_1.z
        .string()
        .min(1, 'image path or URL is empty')
        .refine((s) => {
        const scheme = URL_SCHEME.exec(s)?.[1]?.toLowerCase();
        return scheme === undefined || scheme === 'http' || scheme === 'https' || scheme === 'file';
    }, 'image URL must be http(s) or file'),
    zod_1.z.object({
        bytes_b64: zod_1.z
            .string()
            .transform((s) => s.replace(/\s+/g, ''))
            .refine((s) => s.length > 0 && BASE64.test(s), 'bytes_b64 is not base64'),
    }),
], { error: (iss) => (iss.input === undefined ? 'required' : 'expected a path, an http(s) URL or {bytes_b64}') });
/** One line of a corpus file, as written. Unknown fields are ignored for forward compatibility. */
exports.corpusLineSchema = zod_1.z.object({
    id: zod_1.z.string().min(1).optional(),
    image: imageRef,
    question: zod_1.z.string({ error: (iss) => (iss.input === undefined ? 'required' : undefined) }).refine((s) => s.trim().length > 0, 'question is empty'),
    phrases: zod_1.z.array(zod_1.z.string()).optional(),
    program: zod_1.z.string().optional(),
    metadata: zod_1.z.record(zod_1.z.string(), zod_1.z.string()).optional(),
});
/** Stable across runs and machines (but not renames): sha256(basename:line), 16 hex chars. */
function stableEventId(file, line) {
    return (0, node_crypto_1.createHash)('sha256').update(`${path.basename(file)}:${line}`).digest('hex').slice(0, 16);
}
function resolveImage(image, file) {
    const scheme = URL_SCHEME.exec(image)?.[1]?.toLowerCase();
    if (scheme === 'http' || scheme === 'https')
        return image;
    if (scheme === 'file')
        return (0, node_url_1.fileURLToPath)(image);
    // Relative paths are relative to the corpus file, so a corpus directory can be moved whole.
    return path.resolve(path.dirname(file), image);
}
function describeIssues(error) {
    return error.issues
        .map((issue) => {
        const field = issue.path.length ? issue.path.map(String).join('.') : '(line)';
        return `${field}: ${issue.message}`;
    })
        .join('; ');
}
/**
 * Parses and validates one corpus line. `file` should be absolute: relative image paths are
 * resolved against its directory. Returns null for blank lines.
 */
function parseCorpusLine(raw, file, line, opts = {}) {
    if (raw.trim() === '')
        return null;
    const fail = (why) => ({ ok: false, line, file, raw, error: `${file}:${line}: ${why}` });
    let json;
    try {
        json = JSON.parse(raw);
    }
    catch (err) {
        return fail(`invalid JSON: ${err.message}`);
    }
    const parsed = exports.corpusLineSchema.safeParse(json);
    if (!parsed.success)
        return fail(describeIssues(parsed.error));
    const v = parsed.data;
    const metadata = { ...v.metadata };
    if (opts.corpusName !== undefined && metadata.corpus === undefined)
        metadata.corpus = opts.corpusName;
    const inline = typeof v.image === 'string' ? null : Buffer.from(v.image.bytes_b64, 'base64');
    if (inline && inline.length === 0)
        return fail('image.bytes_b64: decodes to no bytes');
    return {
        ok: true,
        line,
        file,
        event: {
            id: v.id ?? stableEventId(file, line),
            imageUri: typeof v.image === 'string' ? resolveImage(v.image, file) : null,
            imageBytes: inline,
            question: v.question,
            phrases: v.phrases ?? [],
            program: v.program ?? null,
            metadata,
        },
    };
}
/**
 * The corpus files behind `p`, absolute: the file itself, or a directory's `*.jsonl` files
 * (not recursive) in name order so a replay reads them in the same order every time.
 */
async function listCorpusFiles(p) {
    const abs = path.resolve(p);
    let st;
    try {
        st = await (0, promises_1.stat)(abs);
    }
    catch (err) {
        throw new errors_1.ConfigError(`corpus: cannot read ${abs}: ${err.message}`, { cause: err });
    }
    if (!st.isDirectory())
        return [abs];
    const entries = await (0, promises_1.readdir)(abs, { withFileTypes: true });
    const files = entries
        .filter((e) => e.isFile() && e.name.endsWith('.jsonl'))
        .map((e) => e.name)
        // Code-unit order, not locale order: the same on every machine.
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        .map((name) => path.join(abs, name));
    if (files.length === 0)
        throw new errors_1.ConfigError(`corpus: no *.jsonl files in ${abs}`);
    return files;
}
/** Streams the events of a JSONL file or directory of them; see CorpusItem for bad lines. */
async function* readCorpus(p, opts = {}) {
    for (const file of await listCorpusFiles(p)) {
        const input = (0, node_fs_1.createReadStream)(file, { encoding: 'utf8' });
        const lines = (0, node_readline_1.createInterface)({ input, crlfDelay: Infinity });
        let line = 0;
        try {
            for await (const text of lines) {
                line++;
                // A UTF-8 BOM would otherwise make the first line invalid JSON.
                const raw = line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
                const item = parseCorpusLine(raw, file, line, opts);
                if (item)
                    yield item;
            }
        }
        finally {
            // Also runs when the consumer stops early: release the file handle.
            lines.close();
            input.destroy();
        }
    }
}
/**
 * Newline count over the file(s) behind `p` (plus one for an unterminated last line): a
 * cheap total for a progress bar. Blank lines are counted though readCorpus skips them.
 */
async function countLines(p) {
    let total = 0;
    for (const file of await listCorpusFiles(p)) {
        let last = -1;
        let bytes = 0;
        for await (const chunk of (0, node_fs_1.createReadStream)(file, { highWaterMark: 1 << 20 })) {
            for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1))
                total++;
            bytes += chunk.length;
            last = chunk[chunk.length - 1];
        }
        if (bytes > 0 && last !== 10)
            total++;
    }
    return total;
}
//# sourceMappingURL=corpus-reader.js.map