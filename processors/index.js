"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.PROCESSORS = void 0;
exports.lookupProcessor = lookupProcessor;
const passthrough_1 = require("./passthrough");
const plan_1 = require("./plan");
const detect_1 = require("./detect");
const verify_1 = require("./verify");
exports.PROCESSORS = {
    [passthrough_1.passthrough.kind]: passthrough_1.passthrough,
    [plan_1.plan.kind]: plan_1.plan,
    [detect_1.detect.kind]: detect_1.detect,
    [verify_1.verify.kind]: verify_1.verify,
};
function lookupProcessor(kind) {
    return exports.PROCESSORS[kind];
}
//# sourceMappingURL=index.js.map