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
// Verifier throughput against a provider with 500 ms latency and a concurrency limit of 32
// calls: verified proposal sets per second, and the ratio to what the limit allows
// (32 calls / 0.5 s = 64 calls/s, divided by the calls each set needs). Also provider calls
// and tokens per pseudo-label. The provider is the fake OpenAI Responses server on
// 127.0.0.1 (real HTTP, real SDK) answering from the synthetic corpus's ground truth, in a
// child process of its own.
// Prints `name: value unit` lines.
const node_child_process_1 = require("node:child_process");
const node_events_1 = require("node:events");
const fs = __importStar(require("node:fs"));
const os = __importStar(require("node:os"));
const path = __importStar(require("node:path"));
const rxjs_1 = require("rxjs");
const clock_1 = require("../core/clock");
const logger_1 = require("../core/logger");
const store_1 = require("../core/store");
const node_worker_1 = require("../connectors/runtime/node-worker");
const synthetic_corpus_1 = require("../connectors/corpus/synthetic-corpus");
const synthetic_proposals_1 = require("../connectors/corpus/synthetic-proposals");
const verify_1 = require("../processors/verify");
const SETS = Number(process.env.BENCH_SETS ?? 160);
const LATENCY_MS = Number(process.env.BENCH_PROVIDER_LATENCY_MS ?? 500);
const LIMIT = Number(process.env.BENCH_PROVIDER_CONCURRENCY ?? 32);
async function main() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-verify-'));
    const corpus = await (0, synthetic_corpus_1.generateSyntheticCorpus)({ outDir: dir, count: SETS, seed: 3 });
    const proposals = (0, synthetic_proposals_1.simulatedProposalRecords)(corpus.groundTruthFile, { seed: 1 });
    const child = (0, node_child_process_1.fork)(path.join(__dirname, 'fake-provider-process.js'), [corpus.groundTruthFile, String(LATENCY_MS)]);
    const baseURL = await new Promise((resolve, reject) => {
        child.once('message', (m) => resolve(m.baseURL));
        child.once('exit', (code) => reject(new Error(`fake provider exited with ${code}`)));
    });
    process.env.VALOR_BENCH_KEY = 'bench-key';
    const config = verify_1.verifyConfig.parse({
        provider: { kind: 'openai-responses', baseURL, apiKeyEnv: 'VALOR_BENCH_KEY' },
        limits: { concurrency: LIMIT },
        // Enough sets in flight to keep every call slot busy between stages.
        concurrency: LIMIT * 2,
        images: { allowedRoots: [dir] },
    });
    const signal = new AbortController().signal;
    (0, node_events_1.setMaxListeners)(0, signal);
    const op = verify_1.verify.create(config, {
        node: 'verify', logger: logger_1.silentLogger, clock: clock_1.systemClock, scheduler: rxjs_1.asyncScheduler,
        flow: new node_worker_1.SimpleFlowControl(), signal, stores: new store_1.MemoryStoreProvider(),
    });
    const records = proposals.map((p, i) => ({ key: p.queryId, value: p, origin: { topic: 'bench', partition: 0, offset: String(i) }, timestamp: 0 }));
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const outcomes = await (0, rxjs_1.lastValueFrom)((0, rxjs_1.from)(records).pipe(op, (0, rxjs_1.toArray)()));
    const secs = (performance.now() - t0) / 1000;
    const labels = outcomes.flatMap((o) => o.outputs.filter((e) => e.port === 'labels').map((e) => e.value));
    const failed = outcomes.filter((o) => o.failure).length;
    const calls = labels.reduce((s, l) => s + l.usage.calls, 0);
    const tokens = labels.reduce((s, l) => s + l.usage.inputTokens + l.usage.outputTokens, 0);
    const accepted = labels.reduce((s, l) => s + l.accepted.length, 0);
    const callsPerSet = calls / labels.length;
    const bound = LIMIT / (LATENCY_MS / 1000) / callsPerSet;
    const rate = labels.length / secs;
    console.log(`verify_provider_latency: ${LATENCY_MS} ms`);
    console.log(`verify_concurrency_limit: ${LIMIT} calls`);
    console.log(`verify_sets: ${labels.length} sets (${failed} failed)`);
    console.log(`verify_throughput: ${rate.toFixed(2)} sets/s`);
    console.log(`verify_bound_by_concurrency: ${bound.toFixed(2)} sets/s`);
    console.log(`verify_ratio_to_bound: ${(rate / bound).toFixed(2)}`);
    console.log(`verify_calls_per_set: ${callsPerSet.toFixed(2)} calls`);
    console.log(`verify_calls_per_pseudo_label: ${(calls / Math.max(1, accepted)).toFixed(2)} calls`);
    console.log(`verify_tokens_per_pseudo_label: ${(tokens / Math.max(1, accepted)).toFixed(0)} tokens`);
    console.log(`verify_cost_per_1k_pseudo_labels: ${((labels.reduce((s, l) => s + l.usage.costUsd, 0) / Math.max(1, accepted)) * 1000).toFixed(3)} usd`);
    console.log(`verify_rss_growth: ${((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0)} MiB`);
    child.disconnect();
    fs.rmSync(dir, { recursive: true, force: true });
}
main().catch((err) => {
    console.error(err);
    process.exit(1);
});
//# sourceMappingURL=verify.bench.js.map