import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { createLogger } from '../../core/logger';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { datasetQuality } from '../../evaluation/dataset-quality';
import { formatQuality, labelQuality, readGroundTruth } from '../../evaluation/label-quality';
import { writeTestDetector } from '../../models/detector/test-model';
import { writeTestDepthModel } from '../../models/depth/test-model';
import { AnswerEvaluator, formatAnswerEval } from '../../evaluation/answer-eval';
import { writePreviews } from '../../connectors/sinks/odvg-preview';
import { AppConfig } from '../config';
import { allowImageRoot } from '../config-images';
import { configFrom, topologyFrom } from '../context';
import { startDemoProvider } from '../demo-provider';
import { formatRewardDemo, runRewardDemo } from '../demo-rewards';
import type { JobReport } from '../embedded-job';
import { progress } from '../progress';
import { runEmbedded } from './run';

/** The detector the demo runs: simulated from the corpus's ground truth, or the stand-in ONNX model. */
function demoDetector(config: AppConfig, kind: 'simulated' | 'onnx', corpusDir: string, outDir: string): void {
  if (config.nodes.detect) return; // a config file's detect node wins
  if (kind === 'simulated') {
    config.nodes.detect = { kind: 'simulated', groundTruth: path.join(corpusDir, 'ground-truth.jsonl') };
    return;
  }
  // GroundingDINO's exact inputs and outputs with random weights (README: Detector models).
  const model = writeTestDetector(path.join(outDir, 'models'));
  config.nodes.detect = { kind: 'onnx', modelPath: model.huggingface, tokenizerPath: model.tokenizerJson };
}

/** The demo's answer node: the fake server plans and answers vqa; depth runs the stand-in ONNX model. */
function demoAnswerConfig(
  provider: { verifyConfig: Record<string, unknown>; plannerConfig: Record<string, unknown> },
  outDir: string,
): Record<string, unknown> {
  return {
    planner: provider.plannerConfig,
    vqa: provider.verifyConfig,
    depth: { modelPath: writeTestDepthModel(path.join(outDir, 'models')).path },
  };
}

/** Detector proposals and the dataset against the ground truth: what the verifier bought. */
function qualityLines(report: JobReport, gtFile: string): string[] {
  const truth = readGroundTruth(gtFile);
  const asked = new Map<string, Set<string>>();
  const items = [];
  for (const p of report.proposals) {
    const t = truth.get(p.queryId);
    if (t) items.push({ boxes: p.boxes, phrases: p.phrases, truth: t });
    const set = asked.get(p.image.sha256 ?? '') ?? new Set<string>();
    for (const ph of p.phrases) set.add(ph);
    asked.set(p.image.sha256 ?? '', set);
  }
  const lines = [formatQuality('detector proposals vs ground truth', labelQuality(items))];
  if (report.odvg && fs.existsSync(report.odvg.dataset)) {
    const q = datasetQuality(report.odvg.dir, gtFile, asked);
    lines.push(`${formatQuality('the ODVG dataset vs ground truth', q)}; ${q.records} records`);
  }
  return lines;
}

/** Adds `demo` (what `make demo` runs) to the program. */
export function registerDemoCommand(program: Command): Command {
  return program
    .command('demo')
    .description(
      'the main job on the embedded runtime: synthetic corpus -> plan -> detect -> verify -> ODVG dataset, the reasoner (answer) with its accuracy, then the reward loop',
    )
    .option('-n, --count <n>', 'synthetic images', '60')
    .option('--out <dir>', 'output directory', 'out/demo')
    .option('-c, --config <file>', 'JSON config file (e.g. a real verify provider)')
    .addOption(
      new Option('--detector <kind>', 'simulated (boxes from the ground truth) or onnx (the stand-in model)')
        .choices(['simulated', 'onnx'])
        .default('simulated'),
    )
    .option('--provider-latency <ms>', "latency of the demo's fake VLM server", '0')
    .option('--verifier-error-rate <p>', "share of the fake VLM's keep/drop decisions it gets wrong", '0')
    .action(async (opts) => {
      process.env.VALOR_LOG_LEVEL ??= 'warn'; // the report says what happened; logs are for problems
      const corpusDir = path.join(opts.out, 'corpus');
      const corpusFile = path.join(corpusDir, 'corpus.jsonl');
      const gtFile = path.join(corpusDir, 'ground-truth.jsonl');
      if (!fs.existsSync(corpusFile)) {
        const bar = progress('synthetic images', Number(opts.count));
        await generateSyntheticCorpus({ outDir: corpusDir, count: Number(opts.count), seed: 1, onProgress: (d) => bar.update(d) });
        bar.stop();
      }
      let config = configFrom({ config: opts.config, runtime: 'embedded' });
      demoDetector(config, opts.detector, corpusDir, opts.out);
      // No hosted model: a fake OpenAI server on 127.0.0.1 answers the verifier from the
      // corpus's ground truth, through the real openai SDK. A config file's verify node wins.
      const provider = config.nodes.verify ? null : await startDemoProvider(gtFile, Number(opts.providerLatency), Number(opts.verifierErrorRate));
      try {
        config.nodes.verify ??= { ...provider!.verifyConfig };
        // The same fake server plays the reward judges of loop 2.
        config.nodes.reward ??= { provider: (provider?.verifyConfig ?? (config.nodes.verify as { provider: unknown })).provider };
        // The reasoner: each query's program (the event's, else the planner's) run against the tools.
        if (provider) config.nodes.answer ??= demoAnswerConfig(provider, opts.out);
        config.sinks.odvg = { ...config.sinks.odvg, dir: path.join(opts.out, 'odvg') };
        config = allowImageRoot(config, corpusDir);
        const detector = opts.detector === 'simulated' ? 'simulated detector' : 'stand-in ONNX model';
        console.log(`== the main job: corpus -> plan -> detect (${detector}) -> verify (fake VLM server, real openai SDK) -> ODVG dataset`);
        const report = await runEmbedded(config, corpusFile, opts.out, path.join(opts.out, 'state'));
        for (const l of qualityLines(report, gtFile)) console.log(l);
        if (report.answers.length) {
          const evaluator = AnswerEvaluator.fromGroundTruthFile(gtFile);
          for (const a of report.answers) evaluator.add(a);
          console.log(
            `\n== the reasoner: ${report.answers.length} programs (the event's, else the planner's) run in the sandbox against gd_detect (${detector}), depth and vqa`,
          );
          console.log(formatAnswerEval(evaluator.summary()));
        }
        if (opts.detector === 'onnx')
          console.log(
            '(the stand-in ONNX model has random weights: its boxes are not objects, so the verifier rightly rejects them, the dataset has no boxes and the reasoner answers at about chance)',
          );
        if (report.odvg) {
          const previews = await writePreviews(report.odvg.dir, path.join(opts.out, 'preview'), 8);
          console.log('\nlook at it:');
          console.log(`  training set   ${report.odvg.dataset} (point Open-GroundingDino's datasets config here)`);
          console.log(
            `  previews       ${previews.length ? `${path.dirname(previews[0]!)}/*.png (accepted boxes drawn on ${previews.length} images)` : 'none (no accepted boxes)'}`,
          );
          console.log(`  the topics     ${report.topicsDir}/*.jsonl (proposals, verdicts with reasons, pseudo-labels, dead letters)`);
          console.log(`  review page    npx valor-stream review --dataset ${report.odvg.dir} (boxes and hard negatives on the images; correct them)`);
        }
        console.log(`(run the demo again: every verdict then comes from the cache in ${path.join(opts.out, 'state')} and costs no calls)`);
        console.log('\n== loop 2: groups of reasoning rollouts -> reward (sandbox + 4 judges) -> reward-group -> reward shards');
        console.log(formatRewardDemo(await runRewardDemo(topologyFrom(config), corpusFile, opts.out, createLogger('valor-stream'))));
      } finally {
        await provider?.close();
      }
    });
}
