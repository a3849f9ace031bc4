"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.progress = progress;
const cli_progress_1 = require("cli-progress");
/** A progress bar on a terminal; periodic plain lines otherwise (CI logs, pipes). */
function progress(label, total) {
    if (process.stderr.isTTY && total) {
        const bar = new cli_progress_1.SingleBar({ format: `${label} [{bar}] {percentage}% {value}/{total} {eta_formatted} left`, stream: process.stderr }, cli_progress_1.Presets.shades_classic);
        bar.start(total, 0);
        return { update: (n) => bar.update(n), stop: () => bar.stop() };
    }
    let last = 0;
    return {
        update: (n) => {
            const now = Date.now();
            if (now - last > 2000) {
                last = now;
                process.stderr.write(`${label}: ${n}${total ? `/${total}` : ''}\n`);
            }
        },
        stop: () => undefined,
    };
}
//# sourceMappingURL=progress.js.map