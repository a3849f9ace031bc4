"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.defineProcessor = defineProcessor;
/** Declares a processor with its types checked; the registry keeps them by kind. */
function defineProcessor(spec) {
    return spec;
}
//# sourceMappingURL=processor.js.map