// Progress per stage of an embedded run: records done of those that reached the stage so far,
// with the rate and an ETA. A stage's total grows while the stages before it run.
import { MultiBar, Presets, SingleBar } from 'cli-progress';
import type { EmbeddedRuntime } from '../runtime/embedded/embedded-runtime';

export interface StageProgress {
  stop(): void;
}

interface Stage {
  node: string;
  input: string;
  startedAt: number | null;
  bar?: SingleBar;
}

function eta(done: number, total: number, rate: number): string {
  if (!rate || done >= total) return '0s';
  const s = Math.round((total - done) / rate);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Polls the runtime's counters; bars on a terminal, a line per stage every few seconds otherwise (CI logs). */
export function stageProgress(runtime: EmbeddedRuntime, nodes: string[], opts: { intervalMs?: number; tty?: boolean } = {}): StageProgress {
  const tty = opts.tty ?? Boolean(process.stderr.isTTY);
  const stages: Stage[] = nodes.map((n) => ({ node: n, input: runtime.topology.nodes.find((x) => x.name === n)!.input, startedAt: null }));
  const width = Math.max(...nodes.map((n) => n.length));
  const multi = tty
    ? new MultiBar(
        { format: '{stage} [{bar}] {value}/{total} {rate}/s ETA {eta}', stream: process.stderr, hideCursor: true, clearOnComplete: false },
        Presets.shades_classic,
      )
    : null;
  let lastLine = 0;
  const tick = (final = false) => {
    const now = Date.now();
    const lines: string[] = [];
    for (const s of stages) {
      let total = 0;
      for (let p = 0; p < runtime.log.partitions(s.input); p++) total += runtime.log.endOffset(s.input, p);
      const done = runtime.stats.get(s.node)?.processed ?? 0;
      if (total > 0 && s.startedAt === null) s.startedAt = now;
      const secs = s.startedAt === null ? 0 : (now - s.startedAt) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const payload = { stage: s.node.padEnd(width), rate: rate.toFixed(1), eta: eta(done, total, rate) };
      if (multi) {
        if (!s.bar) s.bar = multi.create(Math.max(total, 1), done, payload);
        s.bar.setTotal(Math.max(total, 1));
        s.bar.update(done, payload);
      } else if (total > 0) lines.push(`${payload.stage} ${done}/${total} (${payload.rate}/s, ETA ${payload.eta})`);
    }
    if (!multi && lines.length && (final || now - lastLine > 2000)) {
      lastLine = now;
      process.stderr.write(lines.join('  |  ') + '\n');
    }
  };
  const timer = setInterval(() => tick(), opts.intervalMs ?? 200);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      tick(true);
      multi?.stop();
    },
  };
}
