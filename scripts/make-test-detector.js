"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
// Writes the tiny GroundingDINO stand-in (both ONNX layouts) plus its tokenizer files,
// for demos and benchmarks on machines that cannot download the real weights.
//   node dist/scripts/make-test-detector.js --out DIR [--seed N]
const test_model_1 = require("../models/detector/test-model");
function main(argv) {
    let out;
    let seed = 7;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--out' || a === '-o')
            out = argv[++i];
        else if (a === '--seed')
            seed = Number(argv[++i]);
        else if (a === '--help' || a === '-h') {
            console.log('usage: make-test-detector --out DIR [--seed N]');
            return 0;
        }
        else {
            console.error(`make-test-detector: unknown argument '${a}'`);
            return 2;
        }
    }
    if (!out) {
        console.error('make-test-detector: --out DIR is required');
        return 2;
    }
    if (!Number.isInteger(seed)) {
        console.error('make-test-detector: --seed must be an integer');
        return 2;
    }
    const paths = (0, test_model_1.writeTestDetector)(out, seed);
    for (const [k, v] of Object.entries(paths))
        console.log(`${k}: ${v}`);
    return 0;
}
process.exitCode = main(process.argv.slice(2));
//# sourceMappingURL=make-test-detector.js.map