"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.Verifier = exports.VerifierAnswerError = void 0;
const errors_1 = require("../../core/errors");
const ids_1 = require("../../core/ids");
const cascade_1 = require("./cascade");
const prompts_1 = require("./prompts");
const verifier_images_1 = require("./verifier-images");
/** The model's answer broke the stage's schema twice (the first answer and the repair). */
class VerifierAnswerError extends errors_1.ValidationError {
    stage;
    rawAnswer;
    constructor(stage, problem, rawAnswer, limit) {
        const raw = rawAnswer.length > limit ? `${rawAnswer.slice(0, limit)}… (${rawAnswer.length} chars)` : rawAnswer;
        super(`verifier stage ${stage}: answer still invalid after one repair retry (${problem}); raw answer: ${JSON.stringify(raw)}`);
        this.stage = stage;
        this.rawAnswer = rawAnswer;
    }
}
exports.VerifierAnswerError = VerifierAnswerError;
const INSTRUCTIONS = 'You check object detections for a training data set. Follow the instructions exactly and answer with JSON only.';
function parseAnswer(raw, schema) {
    let json;
    try {
        // Some servers wrap JSON in a code fence even when asked not to.
        json = JSON.parse(raw.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1'));
    }
    catch (err) {
        return { ok: false, problem: `not valid JSON: ${err.message}` };
    }
    const r = schema.safeParse(json);
    if (!r.success)
        return { ok: false, problem: r.error.issues.map((i) => `${i.path.join('.') || '<root>'}: ${i.message}`).join('; ') };
    return { ok: true, value: r.data };
}
class Verifier {
    llm;
    prompts;
    cache;
    opts;
    /** Bumps when the cache entry format or the key recipe changes. */
    static CACHE_FORMAT = 'verdict/v1';
    constructor(llm, prompts, cache, opts) {
        this.llm = llm;
        this.prompts = prompts;
        this.cache = cache;
        this.opts = opts;
    }
    /** Names everything that shapes a verdict; records carry it as `verifierVersion`. */
    get version() {
        const h = (0, ids_1.sha256Hex)(JSON.stringify([this.llm.kind, this.llm.model, this.prompts.COARSE.hash, this.prompts.CROP.hash, this.prompts.FINAL.hash, this.opts.crop])).slice(0, 12);
        return `${this.llm.kind}:${this.llm.model}:${h}`;
    }
    get provider() {
        return { kind: this.llm.kind, model: this.llm.model };
    }
    /** The verdict cache key: provider, model, prompt hash, image sha256 and the boxes shown. */
    cacheKey(stage, imageSha, boxes) {
        const shown = boxes.map((b) => [b.label, Math.round(b.x1), Math.round(b.y1), Math.round(b.x2), Math.round(b.y2)]);
        const extra = stage === 'CROP' ? this.opts.crop : null;
        return (0, ids_1.sha256Hex)(JSON.stringify([Verifier.CACHE_FORMAT, this.llm.kind, this.llm.model, this.prompts[stage].hash, stage, imageSha, shown, extra]));
    }
    async verify(image, boxes, signal) {
        // Decoded once per record and only if some stage has to call the provider.
        let clean;
        const cleanPng = () => (clean ??= image.load().then(async (bytes) => ({ bytes, png: (await (0, verifier_images_1.toPng)(bytes)).png })));
        const dims = { width: image.width, height: image.height };
        const img = (png, w, h) => ({ type: 'image', data: png, mediaType: 'image/png', width: w, height: h });
        const listStage = (stage) => async (shown) => this.ask(stage, this.cacheKey(stage, image.sha256, shown), cascade_1.listAnswerSchema, cascade_1.LIST_ANSWER_JSON_SCHEMA, signal, async () => {
            const c = await cleanPng();
            const annotated = await (0, verifier_images_1.annotate)(c.bytes, shown);
            return [
                { type: 'text', text: (0, prompts_1.fillPrompt)(this.prompts[stage], { ...dims, boxes: (0, prompts_1.boxLines)(shown) }) },
                img(c.png, image.width, image.height),
                img(annotated.png, annotated.width, annotated.height),
            ];
        });
        const ask = {
            coarse: listStage('COARSE'),
            final: listStage('FINAL'),
            crop: (box) => this.ask('CROP', this.cacheKey('CROP', image.sha256, [box]), cascade_1.cropAnswerSchema, cascade_1.CROP_ANSWER_JSON_SCHEMA, signal, async () => {
                const c = await cleanPng();
                const crop = await (0, verifier_images_1.cropForVerification)(c.bytes, box, this.opts.crop);
                return [
                    { type: 'text', text: (0, prompts_1.fillPrompt)(this.prompts.CROP, { ...dims, box: (0, prompts_1.boxText)(box), label: box.label }) },
                    img(crop.png, crop.width, crop.height),
                ];
            }),
        };
        return (0, cascade_1.runCascade)(boxes, ask);
    }
    async ask(stage, key, schema, jsonSchema, signal, parts) {
        const hit = await this.cache?.get(key);
        if (hit !== undefined) {
            const entry = JSON.parse(hit);
            const parsed = parseAnswer(entry.raw, schema);
            // A cached answer is one that validated when it was stored; if the schema has
            // changed since, fall through and ask again.
            if (parsed.ok)
                return { answer: parsed.value, info: { raw: entry.raw, cached: true, calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 } };
        }
        const req = {
            instructions: INSTRUCTIONS,
            parts: await parts(),
            output: { name: stage === 'CROP' ? 'crop_verdict' : 'box_selection', schema: jsonSchema },
            maxOutputTokens: this.opts.maxOutputTokens,
            signal,
        };
        const info = { raw: '', cached: false, calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
        const call = async (r) => {
            const res = await this.llm.complete(r);
            info.calls += 1;
            info.inputTokens += res.usage.inputTokens;
            info.outputTokens += res.usage.outputTokens;
            info.costUsd += res.costUsd ?? 0;
            info.raw = res.text;
            return res;
        };
        const first = await call(req);
        let parsed = parseAnswer(first.text, schema);
        if (!parsed.ok) {
            const problem = parsed.problem;
            const second = await call({ ...req, repair: { previousAnswer: first.text, problem } });
            parsed = parseAnswer(second.text, schema);
            if (!parsed.ok)
                throw new VerifierAnswerError(stage, parsed.problem, second.text, this.opts.rawAnswerLimit ?? 2000);
        }
        const entry = { raw: info.raw, model: this.llm.model };
        await this.cache?.put(key, JSON.stringify(entry));
        return { answer: parsed.value, info };
    }
}
exports.Verifier = Verifier;
//# sourceMappingURL=verifier.js.map