// `valor-stream label <folder|glob|file.jsonl> --classes "mug, laptop"`: one's own images to
// an ODVG training set in one command, the way autodistill users expect. A folder or glob
// becomes a corpus (one query per image asking for every class), written next to the
// output so a re-run reads the same events; a JSONL corpus is used as it is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { glob, isDynamicPattern } from 'tinyglobby';
import { ConfigError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';
import { AppConfig } from '../config';
import { allowImageRoot } from '../config-images';
import { configFrom, withCommon } from '../context';
import { missingPrerequisites } from '../prerequisites';
import { parseShare, runEmbedded } from './run';

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|heic|heif)$/i;

export function parseClasses(s: string | undefined): string[] {
  const classes = [
    ...new Set(
      (s ?? '')
        .split(',')
        .map((c) => c.trim().replace(/\s+/g, ' '))
        .filter(Boolean),
    ),
  ];
  return classes;
}

/** The image files an input names: a folder (recursively), a glob, or one image; sorted, absolute. */
export async function imageFiles(input: string): Promise<string[]> {
  if (isDynamicPattern(input)) return (await glob(input, { absolute: true, onlyFiles: true })).filter((f) => IMAGE_EXT.test(f)).sort();
  const abs = path.resolve(input);
  if (!fs.existsSync(abs)) throw new ConfigError(`label: ${abs} does not exist (give a folder of images, a glob such as 'photos/*.jpg', or a corpus .jsonl)`);
  if (fs.statSync(abs).isFile()) return IMAGE_EXT.test(abs) ? [abs] : [];
  return (await glob('**/*', { cwd: abs, absolute: true, onlyFiles: true })).filter((f) => IMAGE_EXT.test(f)).sort();
}

/**
 * A corpus of one query per image asking for every class. Ids come from the image's path and
 * the class list, so a re-run over the same folder produces the same events (and the verdict
 * cache and the sink's de-duplication recognise them).
 */
export function writeImageCorpus(files: string[], classes: string[], file: string): number {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lines = files.map((f) =>
    JSON.stringify({ id: `img-${sha256Hex(`${f}\n${classes.join(',')}`).slice(0, 16)}`, image: f, question: `Find: ${classes.join(', ')}`, phrases: classes }),
  );
  fs.writeFileSync(file, lines.join('\n') + (lines.length ? '\n' : ''));
  return lines.length;
}

/** The common root of the inputs' images: the directory a run started from a folder or glob may read. */
function inputRoot(input: string, files: string[]): string {
  if (!isDynamicPattern(input) && fs.existsSync(input) && fs.statSync(input).isDirectory()) return path.resolve(input);
  const dirs = files.map((f) => path.dirname(f));
  let root = dirs[0] ?? path.resolve('.');
  for (const d of dirs) while (!(d + path.sep).startsWith(root + path.sep)) root = path.dirname(root);
  return root;
}

/** Adds `label` to the program. */
export function registerLabelCommand(program: Command): Command {
  return withCommon(program.command('label'))
    .description('label your own images: a folder, glob or corpus .jsonl -> an ODVG training set (embedded, no broker)')
    .argument('<input>', "a folder of images, a glob ('photos/**/*.jpg'), or a corpus .jsonl")
    .option('--classes <list>', 'comma-separated classes to find, e.g. "mug, laptop, person" (required for images)')
    .option('--out <dir>', 'where the dataset, state and topic dumps go', 'out/label')
    .option('--max-dead-letter-share <p>', 'exit 3 when a node dead-letters more than this share of its inputs (default: only all of them)', parseShare)
    .action(async (input: string, opts) => {
      process.env.VALOR_LOG_LEVEL ??= 'warn'; // the report says what happened; logs are for problems
      let config: AppConfig = configFrom({ ...opts, runtime: 'embedded' });
      const classes = parseClasses(opts.classes);
      let corpus: string;
      if (input.endsWith('.jsonl') && fs.existsSync(input)) {
        corpus = path.resolve(input);
        config = allowImageRoot(config, path.dirname(corpus));
      } else {
        if (classes.length === 0) throw new ConfigError('label: --classes is required with images, e.g. --classes "mug, laptop, person"');
        const files = await imageFiles(input);
        if (files.length === 0) throw new ConfigError(`label: no images (${IMAGE_EXT.source}) found at ${input}`);
        corpus = path.join(opts.out, 'corpus.jsonl');
        writeImageCorpus(files, classes, corpus);
        config = allowImageRoot(config, inputRoot(input, files));
        console.log(`${files.length} images, classes: ${classes.join(', ')}`);
      }
      config.sinks.odvg = { ...config.sinks.odvg, dir: path.join(opts.out, 'odvg') };
      const missing = missingPrerequisites(config);
      if (missing.length) {
        throw new ConfigError(`valor-stream label cannot start; missing:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
      }
      await runEmbedded(config, corpus, opts.out, path.join(opts.out, 'state'), opts.maxDeadLetterShare);
    });
}
