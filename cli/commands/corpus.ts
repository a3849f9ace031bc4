import type { Command } from 'commander';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { progress } from '../progress';

/** Adds `corpus generate` to the program. */
export function registerCorpusCommand(program: Command): Command {
  const corpus = program.command('corpus').description('corpus tools');
  corpus
    .command('generate')
    .description('write a synthetic corpus (rendered shapes, spatial questions, known boxes)')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('-n, --count <n>', 'number of images', '100')
    .option('--seed <n>', 'random seed (same seed, same files)', '1')
    .action(async (opts) => {
      const count = Number(opts.count);
      const bar = progress('images', count);
      const r = await generateSyntheticCorpus({ outDir: opts.out, count, seed: Number(opts.seed), onProgress: (d) => bar.update(d) });
      bar.stop();
      console.log(`wrote ${r.count} events: ${r.corpusFile} (ground truth: ${r.groundTruthFile})`);
    });
  return corpus;
}
