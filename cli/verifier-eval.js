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
exports.evaluateVerifier = evaluateVerifier;
exports.formatVerifierEval = formatVerifierEval;
// Measures the verify node on a synthetic corpus: simulated low-threshold proposals go
// through the configured verifier (a real provider, or the fake one in the demo) on the
// embedded runtime, and label precision/recall against the ground truth is reported
// before and after verification, with the calls, tokens and dollars it took.
const path = __importStar(require("node:path"));
const embedded_runtime_1 = require("../connectors/embedded/embedded-runtime");
const topic_dump_1 = require("../connectors/embedded/topic-dump");
const label_quality_1 = require("../connectors/corpus/label-quality");
const synthetic_proposals_1 = require("../connectors/corpus/synthetic-proposals");
const valor_topology_1 = require("../topology/valor-topology");
const topics_1 = require("../topology/topics");
async function evaluateVerifier(opts) {
    const proposals = (0, synthetic_proposals_1.simulatedProposalRecords)(opts.groundTruthFile, { seed: opts.seed ?? 1 });
    const truth = (0, label_quality_1.readGroundTruth)(opts.groundTruthFile);
    const runtime = new embedded_runtime_1.EmbeddedRuntime((0, valor_topology_1.valorTopology)({ nodeConfig: { verify: opts.verifyConfig } }), {
        only: ['verify'],
        stores: opts.stores,
        logger: opts.logger,
        chunkSize: 64,
    });
    const t0 = Date.now();
    await runtime.produce(topics_1.DEFAULT_TOPIC_NAMES.detectorProposals, proposals.map((p) => ({ key: p.queryId, value: p })));
    // Chunk by chunk, so a long run shows progress.
    let done = 0;
    for (;;) {
        const before = done;
        const stats = await runtime.runUntilIdle(1);
        done = stats.get('verify')?.processed ?? 0;
        opts.onProgress?.(done, proposals.length);
        if (done === before)
            break;
    }
    const seconds = (Date.now() - t0) / 1000;
    const labels = (await runtime.read(topics_1.DEFAULT_TOPIC_NAMES.pseudoLabels)).map((r) => r.value);
    const judgements = (await runtime.read(topics_1.DEFAULT_TOPIC_NAMES.verifierJudgements)).map((r) => r.value);
    const dead = await runtime.read(topics_1.DEFAULT_TOPIC_NAMES.deadLetters);
    if (opts.outDir)
        await (0, topic_dump_1.dumpTopics)(runtime, path.join(opts.outDir, 'topics'));
    await runtime.close();
    const byId = new Map(proposals.map((p) => [p.id, p]));
    const items = (boxes) => labels.map((l) => ({ boxes: boxes(l), phrases: byId.get(l.proposalsId).phrases, truth: truth.get(l.queryId) }));
    const sum = (f) => labels.reduce((s, l) => s + f(l), 0);
    return {
        proposalSets: proposals.length,
        labelled: labels.length,
        deadLettered: dead.length,
        before: (0, label_quality_1.labelQuality)(items((l) => byId.get(l.proposalsId).boxes)),
        after: (0, label_quality_1.labelQuality)(items((l) => l.accepted)),
        calls: sum((l) => l.usage.calls),
        inputTokens: sum((l) => l.usage.inputTokens),
        outputTokens: sum((l) => l.usage.outputTokens),
        costUsd: sum((l) => l.usage.costUsd),
        cachedStages: judgements.filter((j) => j.cached).length,
        stages: judgements.length,
        seconds,
    };
}
function formatVerifierEval(r) {
    const q = (name, x) => `  ${name.padEnd(34)} precision ${x.precision.toFixed(3)}  recall ${x.recall.toFixed(3)}  (${x.truePositives} true of ${x.boxes} boxes; ${x.objects} objects)`;
    return [
        `verifier on ${r.proposalSets} simulated proposal sets: ${r.labelled} labelled, ${r.deadLettered} dead-lettered, ${r.seconds.toFixed(1)} s`,
        q('proposals (before verification)', r.before),
        q('pseudo-labels (after verification)', r.after),
        `  provider calls ${r.calls} (${(r.calls / Math.max(1, r.labelled)).toFixed(2)} per set), tokens in/out ${r.inputTokens}/${r.outputTokens}, cost $${r.costUsd.toFixed(4)}; ${r.cachedStages}/${r.stages} stage judgements from the verdict cache`,
    ].join('\n');
}
//# sourceMappingURL=verifier-eval.js.map