// What a run says at the end, and its exit code: an embedded run whose every input is
// dead-lettered exits 3 and shows the reasons grouped, with one example each.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';
import { allowImageRoot } from './config-images';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { runEmbedded } from './commands/run';
import { deadLetterVerdict, EXIT, formatJobReport, groupDeadLetters, reasonPattern } from './run-report';
import type { JobReport } from './embedded-job';
import type { DeadLetter } from '../schemas/generated/types';
import { captureConsole } from '../test/harness/capture-console';

function dl(node: string, reason: string): DeadLetter {
  return {
    id: reason,
    node,
    reason,
    errorClass: 'ValidationError',
    retriable: false,
    attempts: 1,
    source: { topic: 't', partition: 0, offset: 0, timestamp: 0, key: null },
    payload: null,
    failedAt: 0,
  };
}

function report(nodes: JobReport['nodes'], events = 10, badLines = 0): JobReport {
  return {
    corpus: 'c.jsonl',
    events,
    badLines,
    nodes,
    deadLetters: [],
    proposals: [],
    labels: [],
    answers: [],
    judgements: { total: 0, cached: 0 },
    providers: [],
    odvg: null,
    topicsDir: 'out/topics',
    deadLetterFile: 'out/topics/valor.dead-letters.jsonl',
    seconds: 1,
  };
}

describe('run report', () => {
  it('groups dead letters by reason with ids and numbers blanked, one example each', () => {
    const groups = groupDeadLetters([
      dl('detect', "image 'a.png': file not found at /data/x/a.png"),
      dl('detect', "image 'b.png': file not found at /data/x/b.png"),
      dl('plan', 'question: NUL character at position 17'),
    ]);
    expect(groups).toHaveLength(2);
    expect(groups[0]).toMatchObject({ node: 'detect', count: 2, example: "image 'a.png': file not found at /data/x/a.png" });
    expect(reasonPattern('question: NUL character at position 17')).toBe('question: NUL character at position N');
  });

  it('exits 3 when a node dead-letters everything, or more than the share given', () => {
    expect(deadLetterVerdict(report([{ node: 'detect', processed: 10, emitted: 10, deadLettered: 2 }])).code).toBe(EXIT.ok);
    const all = deadLetterVerdict(report([{ node: 'detect', processed: 10, emitted: 0, deadLettered: 10 }]));
    expect(all).toEqual({ code: EXIT.deadLetters, reason: expect.stringMatching(/node detect dead-lettered every input it got: 10 of 10/) });
    expect(deadLetterVerdict(report([{ node: 'detect', processed: 10, emitted: 7, deadLettered: 3 }]), 0.25).code).toBe(EXIT.deadLetters);
    expect(deadLetterVerdict(report([], 0, 4)).reason).toMatch(/corpus-source/);
  });

  it('warns about an empty corpus', () => {
    expect(formatJobReport(report([], 0, 0))).toMatch(/warning: the corpus c\.jsonl holds no events/);
  });

  it('an embedded run whose every image is missing exits 3 and says why', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'run-dl-'));
    const before = process.exitCode;
    try {
      const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 3, seed: 2 });
      const missing = path.join(dir, 'missing.jsonl');
      fs.writeFileSync(missing, ['a', 'b', 'c'].map((n) => JSON.stringify({ image: `gone-${n}.png`, question: 'where?', phrases: ['red circle'] })).join('\n'));
      let config = loadConfig({ env: {} });
      config.nodes.detect = { kind: 'simulated', groundTruth: corpus.groundTruthFile };
      // Never called: detect dead-letters every record first (a keyless kind, so no key is needed).
      config.nodes.verify = { provider: { kind: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1', model: 'm' } };
      config.sinks.odvg = { ...config.sinks.odvg, dir: path.join(dir, 'odvg') };
      config = allowImageRoot(config, dir);
      process.env.VALOR_LOG_LEVEL ??= 'warn';
      let r: JobReport | undefined;
      const text = await captureConsole(async () => (r = await runEmbedded(config, missing, path.join(dir, 'out'), path.join(dir, 'state'))));
      expect(r!.nodes.find((n) => n.node === 'detect')).toMatchObject({ processed: 3, deadLettered: 3 });
      expect(process.exitCode).toBe(EXIT.deadLetters);
      expect(text).toMatch(/3 × detect \w+: .*gone-[abc]\.png/);
      expect(text).toMatch(/node detect dead-lettered every input it got: 3 of 3 \(exit code 3/);
    } finally {
      process.exitCode = before;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
