import type { Command } from 'commander';
import { writeTestDetector } from '../../models/detector/test-model';

/** Adds `models test-detector` to the program. */
export function registerModelsCommand(program: Command): Command {
  const models = program.command('models').description('model tools');
  models
    .command('test-detector')
    .description('write the tiny GroundingDINO stand-in (both ONNX layouts) and its tokenizer')
    .requiredOption('-o, --out <dir>', 'output directory')
    .action((opts) => {
      const r = writeTestDetector(opts.out);
      for (const [k, v] of Object.entries(r)) console.log(`${k}: ${v}`);
    });
  return models;
}
