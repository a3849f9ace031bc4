"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.plan = exports.planConfig = void 0;
exports.programOf = programOf;
exports.detectCallPhrases = detectCallPhrases;
exports.splitPhrases = splitPhrases;
const zod_1 = require("zod");
const errors_1 = require("../core/errors");
const ids_1 = require("../core/ids");
const lineage_1 = require("../core/lineage");
const per_record_1 = require("../core/per-record");
const processor_1 = require("../core/processor");
const retry_1 = require("../core/retry");
const passthrough_1 = require("./passthrough");
const openai_planner_1 = require("../models/planner/openai-planner");
exports.planConfig = zod_1.z
    .object({
    /** Cap on phrases per detect call: long prompts overflow GroundingDINO's 256 tokens. */
    maxPhrasesPerCall: zod_1.z.number().int().min(1).max(64).default(16),
    concurrency: zod_1.z.number().int().min(1).max(1024).default(32),
    retry: retry_1.retryPolicySchema.default(retry_1.retryPolicySchema.parse({})),
    /** A reasoning LLM that writes the program when an event has neither phrases nor one. */
    planner: openai_planner_1.plannerConfig.optional(),
})
    .strict();
/**
 * The program inside a reasoning LLM's answer, as the method takes it: the single
 * <answer>...</answer> block, else the first fenced code block, else the whole text.
 */
function programOf(text) {
    const answers = [...text.matchAll(/<answer>([\s\S]*?)<\/answer>/g)];
    if (answers.length === 1)
        return answers[0][1];
    const fenced = /```[a-zA-Z0-9_+-]*\n([\s\S]*?)```/.exec(text);
    if (fenced)
        return fenced[1];
    return text;
}
/** The first string argument of each `gd_detect(...)` call, in program order. */
function detectCallPhrases(program) {
    const out = [];
    const call = /\bgd_detect\s*\(/g;
    let m;
    while ((m = call.exec(program))) {
        // Scan the call's arguments for the first string literal, stopping at the closing paren.
        let depth = 1;
        for (let i = call.lastIndex; i < program.length && depth > 0; i++) {
            const c = program[i];
            if (c === '(')
                depth++;
            else if (c === ')')
                depth--;
            else if (c === '"' || c === "'") {
                const triple = program.startsWith(c.repeat(3), i);
                const quote = triple ? c.repeat(3) : c;
                const end = program.indexOf(quote, i + quote.length);
                if (end < 0)
                    break;
                out.push(program.slice(i + quote.length, end));
                break;
            }
        }
    }
    return out;
}
function splitPhrases(s) {
    return s
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p.length > 0);
}
/**
 * image-queries -> detection-requests: one request per gd_detect call. Phrases come from
 * the event, else from the program on the event, else from a program the reasoning LLM
 * (planner) writes for the question.
 */
exports.plan = (0, processor_1.defineProcessor)({
    kind: 'plan',
    description: 'turns image queries into detection requests (phrases from the event, its program or an LLM planner)',
    input: 'ImageQuery',
    outputs: { requests: 'DetectionRequest' },
    config: exports.planConfig,
    create: (config, ctx) => {
        const planner = config.planner ? new openai_planner_1.OpenAIPlanner(config.planner) : undefined;
        return (0, per_record_1.perRecord)(async (rec) => {
            const q = rec.value;
            (0, passthrough_1.checkImageQuery)(q);
            let calls;
            let source;
            const versions = {};
            if (q.phrases.length > 0) {
                calls = [q.phrases.map((p) => p.trim())];
                source = 'EVENT';
            }
            else if (q.program) {
                calls = detectCallPhrases(programOf(q.program)).map(splitPhrases).filter((c) => c.length > 0);
                source = 'PROGRAM';
                if (calls.length === 0) {
                    throw new errors_1.ProcessingError(`image query '${q.id}': its program has no gd_detect call with a phrase`);
                }
            }
            else if (planner) {
                const planned = await planner.plan(q.question, ctx.signal);
                calls = detectCallPhrases(programOf(planned.text)).map(splitPhrases).filter((c) => c.length > 0);
                source = 'PLANNER';
                versions['planner.model'] = planned.model;
                versions['planner.promptHash'] = planned.promptHash;
                if (calls.length === 0) {
                    throw new errors_1.ProcessingError(`image query '${q.id}': the planner's program has no gd_detect call with a phrase`);
                }
            }
            else {
                throw new errors_1.ProcessingError(`image query '${q.id}' has neither phrases nor a program, and no planner is configured: set nodes.plan.planner.baseUrl to have a reasoning LLM write the program`);
            }
            return calls.map((phrases, callIndex) => {
                if (phrases.length > config.maxPhrasesPerCall) {
                    throw new errors_1.ProcessingError(`image query '${q.id}' call ${callIndex} has ${phrases.length} phrases, over maxPhrasesPerCall=${config.maxPhrasesPerCall}`);
                }
                const value = {
                    id: (0, ids_1.deterministicId)('det', q.id, callIndex),
                    queryId: q.id,
                    callIndex,
                    image: q.image,
                    question: q.question,
                    phrases,
                    phraseSource: source,
                    createdAt: ctx.clock.now(),
                    lineage: (0, lineage_1.lineageOf)(ctx.node, [q.id], versions, rec.origin),
                };
                return { port: 'requests', key: q.id, value };
            });
        }, { concurrency: config.concurrency, retry: config.retry, scheduler: ctx.scheduler });
    },
});
//# sourceMappingURL=plan.js.map