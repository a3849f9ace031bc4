// `valor-stream`: the program is built from one file per command under cli/commands/;
// bin/valor-stream.js runs `main` from dist/cli/main.js.
import { Command } from 'commander';
import { VERSION } from '../core/version';
import { registerTopologyCommand } from './commands/topology';
import { registerCorpusCommand } from './commands/corpus';
import { registerProduceCommand } from './commands/produce';
import { registerRunCommand } from './commands/run';
import { registerSinkCommand } from './commands/sink';
import { registerServeRewardsCommand } from './commands/serve-rewards';
import { registerDemoCommand } from './commands/demo';
import { registerEvalCommand } from './commands/eval';
import { registerModelsCommand } from './commands/models';
import { registerConsumeCommand } from './commands/consume';
import { registerLabelCommand } from './commands/label';
import { registerExportCommand } from './commands/export';
import { registerReviewCommand } from './commands/review';
import { registerConfigCommand } from './commands/config';
import { registerTailCommand } from './commands/tail';
import { registerStatusCommand } from './commands/status';
import { registerReplayCommand } from './commands/replay';

export function buildProgram(): Command {
  const program = new Command('valor-stream')
    .version(VERSION)
    .description('Mine grounding pseudo-labels and GRPO rewards from image-query streams with multimodal verifiers.');
  // Registration order is the order of `--help`.
  registerTopologyCommand(program);
  registerCorpusCommand(program);
  registerProduceCommand(program);
  registerRunCommand(program);
  registerSinkCommand(program);
  registerServeRewardsCommand(program);
  registerDemoCommand(program);
  registerLabelCommand(program);
  registerExportCommand(program);
  registerReviewCommand(program);
  registerEvalCommand(program);
  registerModelsCommand(program);
  registerConsumeCommand(program);
  registerConfigCommand(program);
  registerTailCommand(program);
  registerStatusCommand(program);
  registerReplayCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
