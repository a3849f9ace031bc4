import { SingleBar, Presets } from 'cli-progress';

/** A progress bar on a terminal; periodic plain lines otherwise (CI logs, pipes). */
export function progress(label: string, total: number | null): { update(n: number): void; stop(): void } {
  if (process.stderr.isTTY && total) {
    const bar = new SingleBar(
      { format: `${label} [{bar}] {percentage}% {value}/{total} {eta_formatted} left`, stream: process.stderr },
      Presets.shades_classic,
    );
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
