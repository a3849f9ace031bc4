// `valor-stream export <format>`: training sets built offline from a sink's output directory.
// `export odvg` rebuilds the merged ODVG set (one record per image) from the per-query
// shards, the same merge the sink runs at every shard close. `export coco`, `yolo` and
// `labelstudio` rebuild it the same way first and convert that set, so every format holds the
// same images and boxes as the ODVG set training reads; each reads its output back through
// its format's check before it reports success.
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { writeCoco } from '../../connectors/exports/coco';
import { checkCocoFile, checkLabelStudioFile, checkYoloDir } from '../../connectors/exports/export-checks';
import { LS_LOCAL_FILES_PREFIX, writeLabelStudio } from '../../connectors/exports/label-studio';
import { loadTrainingSet, NotOdDatasetError, type ExportCounts, type TrainingSet } from '../../connectors/exports/training-set';
import { writeYolo, YOLO_DATA_YAML } from '../../connectors/exports/yolo';
import { parseLabelMap, type OdvgMode } from '../../connectors/sinks/odvg';
import { DATASET_FILE, LABEL_MAP_FILE, trainingSetJson } from '../../connectors/sinks/odvg-format';
import { OdvgMerger, type OdvgMergeCounts } from '../../connectors/sinks/odvg-merge';
import { LocalFileStorage } from '../../connectors/sinks/shard-storage';
import { FileHumanVerdictLog } from '../../connectors/review/human-verdicts';

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
  // People's review verdicts apply here exactly as in the sink: every export inherits them.
  const verdicts = new FileHumanVerdictLog(root);
  const merger = new OdvgMerger(storage, {
    shardDir: 'shards',
    mode: opts.mode,
    verdicts: () => verdicts.all(),
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

/** The merged set, rebuilt from the shards now, as the detection exports read it. */
export async function currentTrainingSet(dataset: string): Promise<{ set: TrainingSet; merge: OdvgExport }> {
  // The mode is not forced to OD: a VG directory would then get an empty OD set and a
  // dataset.json pointing at it. The rebuild stays what `export odvg` would write.
  const merge = await exportOdvg({ dataset });
  if (merge.mode !== 'od')
    throw new NotOdDatasetError(
      `${path.resolve(dataset)} is a VG (grounding) dataset: its records carry phrases, not label-map classes, so it has no COCO, YOLO or Label Studio box export`,
    );
  return { set: await loadTrainingSet(dataset, merge.file), merge };
}

export interface FormatExport {
  merge: OdvgExport;
  /** Counted by the format's check on the written files. */
  counts: ExportCounts;
  /** The JSON file, or the YOLO directory's data.yaml. */
  file: string;
}

export async function exportCoco(opts: { dataset: string; out: string }): Promise<FormatExport> {
  const { set, merge } = await currentTrainingSet(opts.dataset);
  const file = path.resolve(opts.out);
  await writeCoco(set, file);
  return { merge, counts: await checkCocoFile(file), file };
}

export async function exportYolo(opts: { dataset: string; out: string; copy?: boolean }): Promise<FormatExport & { placed: number }> {
  const { set, merge } = await currentTrainingSet(opts.dataset);
  const dir = path.resolve(opts.out);
  const { placed } = await writeYolo(set, dir, { copy: opts.copy });
  return { merge, counts: await checkYoloDir(dir), file: path.join(dir, YOLO_DATA_YAML), placed };
}

export async function exportLabelStudio(opts: {
  dataset: string;
  out: string;
  imageUrlPrefix?: string;
  modelVersion?: string;
}): Promise<FormatExport & { config: string }> {
  const { set, merge } = await currentTrainingSet(opts.dataset);
  const file = path.resolve(opts.out);
  const { config } = await writeLabelStudio(set, file, opts);
  return { merge, counts: await checkLabelStudioFile(file, set.labels), file, config };
}

const counted = (format: string, r: FormatExport) => {
  const m = r.merge.counts;
  console.log(`merged set rebuilt: ${r.merge.file} (${m.images} images, ${m.instances} boxes, from ${m.shards} shard(s))`);
  const c = r.counts;
  console.log(`${format}: ${c.images} images, ${c.boxes} boxes, ${c.categories} categories, format check passed -> ${r.file}`);
};
const DATASET_HELP = 'the ODVG dataset root (sinks.odvg.dir): shards/, label_map.json, images/';

/** Adds `export odvg|coco|yolo|labelstudio` to the program; returns the `export` parent. */
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
  exp
    .command('coco')
    .description('COCO detection JSON of the merged set (category id = label id + 1; images referenced in place)')
    .requiredOption('--dataset <dir>', DATASET_HELP)
    .requiredOption('--out <file>', 'the JSON to write; file_name is relative to its directory')
    .action(async (opts: { dataset: string; out: string }) => {
      const r = await exportCoco(opts);
      counted('coco', r);
      console.log(`image root (file_name is relative to it): ${path.dirname(r.file)}`);
    });
  exp
    .command('yolo')
    .description('YOLO layout of the merged set: images/, labels/<stem>.txt, data.yaml (class = label id)')
    .requiredOption('--dataset <dir>', DATASET_HELP)
    .requiredOption('--out <dir>', 'a new or empty directory, or a previous YOLO export (rewritten, stale files removed)')
    .option('--copy', 'copy the images instead of symlinking them (a self-contained directory)', false)
    .action(async (opts: { dataset: string; out: string; copy: boolean }) => {
      const r = await exportYolo(opts);
      counted('yolo', r);
      console.log(`images ${opts.copy ? 'copied' : 'linked'}: ${r.placed} (the others were already in place)`);
    });
  exp
    .command('labelstudio')
    .description('Label Studio tasks with the merged boxes as predictions (percent coordinates), plus a matching labeling config')
    .requiredOption('--dataset <dir>', DATASET_HELP)
    .requiredOption('--out <file>', 'the tasks JSON to write; <name>.label-config.xml goes beside it')
    .option('--image-url-prefix <prefix>', 'prepended to each dataset-relative image filename', LS_LOCAL_FILES_PREFIX)
    .option('--model-version <name>', "the predictions' model_version (filterable in the Data Manager)", 'valor-stream')
    .action(async (opts: { dataset: string; out: string; imageUrlPrefix: string; modelVersion: string }) => {
      const r = await exportLabelStudio(opts);
      counted('labelstudio', r);
      console.log(`labeling config: ${r.config}`);
      if (opts.imageUrlPrefix === LS_LOCAL_FILES_PREFIX)
        console.log(
          `image URLs are Label Studio local files: serve them with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=${path.resolve(opts.dataset)}`,
        );
    });
  return exp;
}
