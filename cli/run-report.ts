// What an embedded run did, in plain words for a terminal: per node in/out/dead-lettered,
// the dead letters grouped by reason with one example each, the boxes, the bill, and where
// the dataset is. Also the run's exit code.
import type { DeadLetter } from '../schemas/generated/types';
import type { JobReport } from './embedded-job';

/** Exit codes of `run`, `demo` and `label` (README: Exit codes). */
export const EXIT = {
  ok: 0,
  /** Any error that stopped the run (bad config, missing model or key, I/O). */
  error: 1,
  /** A node dead-lettered every input it got, or more than --max-dead-letter-share. */
  deadLetters: 3,
} as const;

export interface ReasonGroup {
  node: string;
  errorClass: string;
  /** The reason with ids, quoted values and numbers blanked, so like failures group together. */
  pattern: string;
  count: number;
  example: string;
}

/** Blanks what differs between records failing for the same reason (ids, paths, numbers). */
export function reasonPattern(reason: string): string {
  return reason
    .replace(/'[^']*'|"[^"]*"|`[^`]*`/g, '…')
    .replace(/(?:\/[\w.@+-]+)+/g, '<path>')
    .replace(/\b[0-9a-f]{12,}\b/gi, '<hash>')
    .replace(/\d+(?:\.\d+)?/g, 'N');
}

export function groupDeadLetters(dls: DeadLetter[]): ReasonGroup[] {
  const groups = new Map<string, ReasonGroup>();
  for (const d of dls) {
    const pattern = reasonPattern(d.reason);
    const key = `${d.node}\u0000${d.errorClass}\u0000${pattern}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { node: d.node, errorClass: d.errorClass, pattern, count: 1, example: d.reason });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || (a.node < b.node ? -1 : 1));
}

export interface DeadLetterVerdict {
  code: number;
  /** Why the code is not 0, naming the node. */
  reason: string | null;
}

/**
 * Non-zero when some stage dead-lettered all it got (the corpus reader included), or a larger
 * share than `maxShare` (1 by default: only "everything").
 */
export function deadLetterVerdict(r: JobReport, maxShare = 1): DeadLetterVerdict {
  const stages = [{ node: 'corpus-source', processed: r.events + r.badLines, deadLettered: r.badLines }, ...r.nodes];
  for (const s of stages) {
    if (s.processed === 0) continue;
    const share = s.deadLettered / s.processed;
    if (s.deadLettered === s.processed || share > maxShare) {
      const what =
        s.deadLettered === s.processed ? 'every input it got' : `${(share * 100).toFixed(1)}% of its inputs (more than --max-dead-letter-share ${maxShare})`;
      return { code: EXIT.deadLetters, reason: `node ${s.node} dead-lettered ${what}: ${s.deadLettered} of ${s.processed}` };
    }
  }
  return { code: EXIT.ok, reason: null };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The boxes and verdicts in plain words. */
export function formatLabels(r: JobReport): string[] {
  const lines: string[] = [];
  const images = new Set(r.proposals.map((p) => p.image.sha256 ?? p.queryId)).size;
  const proposed = r.proposals.reduce((n, p) => n + p.boxes.length, 0);
  const accepted = r.labels.reduce((n, l) => n + l.accepted.length, 0);
  const byStage: Record<string, number> = { COARSE: 0, CROP: 0, FINAL: 0 };
  for (const l of r.labels) for (const h of l.negatives) byStage[h.rejectedAt] = (byStage[h.rejectedAt] ?? 0) + 1;
  const negatives = Object.values(byStage).reduce((a, b) => a + b, 0);
  lines.push(`images in:       ${r.events} queries on ${plural(images, 'image')}`);
  lines.push(`boxes proposed:  ${proposed} by the detector`);
  lines.push(`boxes accepted:  ${accepted} by the verifier (pseudo-labels)`);
  lines.push(`hard negatives:  ${negatives} (rejected at stage 1 coarse: ${byStage.COARSE}, stage 2 crop: ${byStage.CROP}, stage 3 final: ${byStage.FINAL})`);
  const { total, cached } = r.judgements;
  if (total > 0 && cached === total) lines.push(`verdicts:        all ${total} came from the verdict cache (no provider calls needed)`);
  else if (total > 0) lines.push(`verdicts:        ${total} stage verdicts, ${cached} from the verdict cache, ${total - cached} asked of the provider`);
  return lines;
}

export function formatProviders(r: JobReport): string[] {
  if (r.providers.length === 0) return ['provider calls:  none (no node called a model)'];
  return r.providers.map(
    (t) =>
      `provider calls:  ${t.provider}/${t.model}: ${t.calls} calls, $${t.costUsd.toFixed(4)} (tokens in/out ${t.inputTokens}/${t.outputTokens}; ${t.failures} failed, ${t.retries} retries)`,
  );
}

export function formatNodes(r: JobReport): string[] {
  const rows = [
    ['corpus', r.events + r.badLines, r.events, r.badLines] as const,
    ...r.nodes.map((n) => [n.node, n.processed, n.emitted, n.deadLettered] as const),
  ];
  const w = Math.max(...rows.map((x) => x[0].length), 4);
  return [
    `${'node'.padEnd(w)}  ${'in'.padStart(7)}  ${'out'.padStart(7)}  ${'dead-lettered'.padStart(13)}`,
    ...rows.map(([n, i, o, d]) => `${n.padEnd(w)}  ${String(i).padStart(7)}  ${String(o).padStart(7)}  ${String(d).padStart(13)}`),
  ];
}

export function formatDeadLetters(r: JobReport): string[] {
  if (r.deadLetters.length === 0) return ['dead letters:    none'];
  const groups = groupDeadLetters(r.deadLetters);
  return [
    `dead letters:    ${r.deadLetters.length} (all in ${r.deadLetterFile}), by reason:`,
    ...groups.map((g) => `  ${String(g.count).padStart(5)} × ${g.node} ${g.errorClass}: ${g.example}`),
  ];
}

export function formatDataset(r: JobReport): string[] {
  if (!r.odvg) return [];
  const o = r.odvg;
  if (o.unchanged) return [`dataset:         unchanged (every record was already in it) -> ${o.dataset}`];
  return [
    `dataset:         ${plural(o.written, 'new record')} (${o.duplicates} already there, ${o.skipped} without accepted boxes skipped, ${o.deadLettered} dead-lettered) -> ${o.dataset}`,
  ];
}

/** The whole report, as the terminal shows it after a run. */
export function formatJobReport(r: JobReport): string {
  const warn = r.events + r.badLines === 0 ? [`warning: the corpus ${r.corpus} holds no events; nothing was processed`] : [];
  return [
    ...warn,
    ...formatNodes(r),
    '',
    ...formatLabels(r),
    ...formatProviders(r),
    ...formatDeadLetters(r),
    ...formatDataset(r),
    `done in ${r.seconds.toFixed(1)} s`,
  ].join('\n');
}
