"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.systemClock = void 0;
exports.fixedClock = fixedClock;
exports.systemClock = { now: () => Date.now() };
function fixedClock(start, step = 0) {
    let t = start;
    return {
        now: () => {
            const v = t;
            t += step;
            return v;
        },
    };
}
//# sourceMappingURL=clock.js.map