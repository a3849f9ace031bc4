import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../../core/logger';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { evaluateVerifier, formatVerifierEval } from '../../evaluation/verifier-eval';
import { writeTestDetector } from '../../models/detector/test-model';
import { FileStoreProvider } from '../../runtime/state/file-store';
import { configFrom, topologyFrom } from '../context';
import { startDemoProvider } from '../demo-provider';
import { formatRewardDemo, runRewardDemo } from '../demo-rewards';
import { progress } from '../progress';
import { runEmbedded } from './run';

/** Adds `demo` (what `make demo` runs) to the program. */
export function registerDemoCommand(program: Command): Command {
  return program
    .command('demo')
    .description('the main job on the embedded runtime: synthetic corpus -> topology -> files')
    .option('-n, --count <n>', 'synthetic images', '60')
    .option('--out <dir>', 'output directory', 'out/demo')
    .option('-c, --config <file>', 'JSON config file (e.g. a real verify provider)')
    .option('--provider-latency <ms>', "latency of the demo's fake VLM server", '0')
    .option('--verifier-error-rate <p>', "share of the fake VLM's keep/drop decisions it gets wrong", '0')
    .action(async (opts) => {
      const corpusDir = path.join(opts.out, 'corpus');
      const corpusFile = path.join(corpusDir, 'corpus.jsonl');
      if (!fs.existsSync(corpusFile)) {
        const bar = progress('synthetic images', Number(opts.count));
        await generateSyntheticCorpus({ outDir: corpusDir, count: Number(opts.count), seed: 1, onProgress: (d) => bar.update(d) });
        bar.stop();
      }
      // No real weights can be downloaded here: the demo runs the generated stand-in model,
      // which has GroundingDINO's exact inputs and outputs (see README: Detector models).
      const model = writeTestDetector(path.join(opts.out, 'models'));
      const config = configFrom({ config: opts.config, runtime: 'embedded' });
      config.nodes.detect = {
        modelPath: model.huggingface,
        tokenizerPath: model.tokenizerJson,
        images: { allowedRoots: [path.resolve(corpusDir)] },
        ...(config.nodes.detect as object | undefined),
      };
      // No hosted model either: a fake OpenAI server on 127.0.0.1 answers the verifier from
      // the corpus's ground truth, through the real openai SDK. A config file's verify node wins.
      const provider = config.nodes.verify
        ? null
        : await startDemoProvider(path.join(corpusDir, 'ground-truth.jsonl'), Number(opts.providerLatency), Number(opts.verifierErrorRate));
      try {
        const images = { allowedRoots: [path.resolve(corpusDir)] };
        config.nodes.verify = config.nodes.verify ?? { ...provider!.verifyConfig, images };
        // The same fake server plays the reward judges of loop 2.
        config.nodes.reward = config.nodes.reward ?? { provider: (provider?.verifyConfig ?? (config.nodes.verify as { provider: unknown })).provider };
        config.sinks.odvg = { ...config.sinks.odvg, dir: path.join(opts.out, 'odvg'), images: { ...config.sinks.odvg.images, ...images } };
        console.log('== the main job: corpus -> plan -> detect (stand-in model) -> verify');
        await runEmbedded(config, corpusFile, opts.out, path.join(opts.out, 'state'));
        console.log('\n== the verifier on simulated detector proposals (the stand-in detector finds nothing real)');
        const bar = progress('proposal sets', null);
        const r = await evaluateVerifier({
          groundTruthFile: path.join(corpusDir, 'ground-truth.jsonl'),
          verifyConfig: config.nodes.verify,
          stores: new FileStoreProvider(path.join(opts.out, 'state')),
          outDir: path.join(opts.out, 'verifier-eval'),
          logger: createLogger('valor-stream'),
          onProgress: (n) => bar.update(n),
        });
        bar.stop();
        console.log(formatVerifierEval(r));
        console.log(`(run the demo again: every verdict then comes from the cache in ${path.join(opts.out, 'state')} and costs no calls)`);
        console.log('\n== loop 2: groups of reasoning rollouts -> reward (sandbox + 4 judges) -> reward-group -> reward shards');
        console.log(formatRewardDemo(await runRewardDemo(topologyFrom(config), corpusFile, opts.out, createLogger('valor-stream'))));
      } finally {
        await provider?.close();
      }
    });
}
