import * as path from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../../core/logger';
import { evaluateVerifier, formatVerifierEval } from '../../evaluation/verifier-eval';
import { FileStoreProvider } from '../../runtime/state/file-store';
import { configFrom, withCommon } from '../context';
import { registerEvalAnswersCommand } from './eval-answers';

/** Adds `eval` (the configured verifier on a synthetic corpus) and `eval answers` to the program. */
export function registerEvalCommand(program: Command): Command {
  const evalCommand = withCommon(program.command('eval'))
    .description('measure the verify node (as configured) on a synthetic corpus: label precision/recall before and after; `eval answers` scores answers')
    // Not requiredOption: commander checks a parent's mandatory options for its subcommands too.
    .option('--corpus-dir <dir>', 'a directory written by `corpus generate` (with ground-truth.jsonl); required')
    .option('--out <dir>', 'where to dump the topics', 'out/eval')
    .option('--seed <n>', 'seed of the simulated proposals', '1')
    // Options after `answers` belong to it (-c included), not to eval.
    .enablePositionalOptions()
    .action(async (opts, cmd: Command) => {
      if (opts.corpusDir === undefined)
        cmd.error("error: required option '--corpus-dir <dir>' not specified", { code: 'commander.missingMandatoryOptionValue' });
      const config = configFrom(opts);
      const r = await evaluateVerifier({
        groundTruthFile: path.join(opts.corpusDir, 'ground-truth.jsonl'),
        verifyConfig: { images: { allowedRoots: [path.resolve(opts.corpusDir)] }, ...(config.nodes.verify as object | undefined) },
        stores: new FileStoreProvider(config.stores.dir),
        outDir: opts.out,
        seed: Number(opts.seed),
        logger: createLogger('valor-stream'),
      });
      console.log(formatVerifierEval(r));
    });
  registerEvalAnswersCommand(evalCommand);
  return evalCommand;
}
