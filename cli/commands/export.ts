// `valor-stream export <format>`: training sets built offline from a sink's output directory.
// `export odvg` rebuilds the merged ODVG set (one record per image) from the per-query
// shards, the same merge the sink runs at every shard close; `export coco` / `export yolo`
// can join it under the same parent.
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { parseLabelMap, type OdvgMode } from '../../connectors/sinks/odvg';
import { DATASET_FILE, LABEL_MAP_FILE, trainingSetJson } from '../../connectors/sinks/odvg-format';
import { OdvgMerger, type OdvgMergeCounts } from '../../connectors/sinks/odvg-merge';
import { LocalFileStorage } from '../../connectors/sinks/shard-storage';

export interface OdvgExport {
  counts: OdvgMergeCounts;
  /** Absolute path of the merged file. */
  file: string;
  mode: OdvgMode;
  /** Whether dataset.json now points at the merged file (only without `out`). */
  datasetJson: boolean;
}

/**
 * Merges the finished shards of `<dataset>/shards` into one record per image. Without `out`
 * the set goes where the sink puts it and dataset.json is pointed at it; with `out` only that
 * file is written (its `filename`s stay relative to the dataset root).
 */
export async function exportOdvg(opts: { dataset: string; out?: string; mode?: OdvgMode }): Promise<OdvgExport> {
  const root = path.resolve(opts.dataset);
  const storage = new LocalFileStorage(root);
  const out = opts.out ? path.resolve(opts.out) : null;
  const merger = new OdvgMerger(storage, {
    shardDir: 'shards',
    mode: opts.mode,
    ...(out ? { out: path.basename(out), target: new LocalFileStorage(path.dirname(out)) } : {}),
  });
  // Checked first: the merge rewrites shards/manifest.json, which must not create a dataset.
  if (!(await storage.list('shards')).some((f) => f.name.endsWith('.jsonl')))
    throw new Error(`${root} is not an ODVG dataset with finished shards (nothing in ${path.join(root, 'shards')})`);
  await merger.update();
  const mode = merger.mode ?? 'od';
  const labelMap = mode === 'od' ? parseLabelMap((await storage.read(LABEL_MAP_FILE)).toString('utf8')) : null;
  const counts = await merger.write(labelMap);
  if (!out) await storage.writeAtomic(DATASET_FILE, trainingSetJson(root, merger.file, mode));
  return { counts, file: out ?? path.join(root, merger.file), mode, datasetJson: !out };
}

/** Adds `export odvg` to the program; returns the `export` parent. */
export function registerExportCommand(program: Command): Command {
  const exp = program.command('export').description('build training sets offline from a sink output directory');
  exp
    .command('odvg')
    .description('merge the per-query ODVG shards of a dataset into one record per image (the set dataset.json points at)')
    .requiredOption('--dataset <dir>', 'the ODVG dataset root (sinks.odvg.dir): shards/, label_map.json, images/')
    .option('--out <file>', 'write the merged set here instead, and leave dataset.json alone')
    .addOption(new Option('--mode <mode>', 'the records to merge (default: the mode of the first record)').choices(['od', 'vg']))
    .action(async (opts: { dataset: string; out?: string; mode?: OdvgMode }) => {
      const r = await exportOdvg(opts);
      const c = r.counts;
      console.log(
        `odvg ${r.mode}: ${c.records} per-query records in ${c.shards} shard(s) -> ${c.images} image records, ${c.instances} instances ` +
          `(${c.duplicatesRemoved} exact duplicates removed, ${c.backgroundOnly} background-only, ${c.otherMode} of the other mode left out)`,
      );
      console.log(`merged set: ${r.file}`);
      if (r.datasetJson) console.log(`dataset.json points at it: ${path.join(path.resolve(opts.dataset), DATASET_FILE)}`);
      else console.log(`image root for its filenames: ${path.resolve(opts.dataset)}`);
    });
  return exp;
}
