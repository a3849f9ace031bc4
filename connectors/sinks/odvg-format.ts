// The ODVG sink's SinkFormat: a pseudo-label becomes one ODVG line (OD or VG), its image is
// materialised once under a content address, its categories get stable label ids, and the
// dataset index (label_map.json, labels.txt, the merged training set and dataset.json) is
// rewritten when shards close.
import * as path from 'node:path';
import { Logger, silentLogger } from '../../core/logger';
import type { ImageIntakeConfig } from '../../models/images/image-intake';
import type { PseudoLabel } from '../../schemas/generated/types';
import { ImageStore } from './image-store';
import { FileHumanVerdictLog } from '../review/human-verdicts';
import type { LabelRegistry } from './label-registry';
import { categoriesOf, datasetEntry, datasetJson, labelMapJson, OdvgMode, toOdvg } from './odvg';
import { LabelMapBehindError, OdvgMerger, type OdvgMergeCounts } from './odvg-merge';
import type { FormattedLine, SinkFormat } from './partition-sink';
import { DEFAULT_STALE_TEMP_RULE, ShardStorage, StaleTempRule } from './shard-storage';

export interface OdvgFormatOptions {
  storage: ShardStorage;
  /** Absolute path of the storage root: dataset.json names files by absolute path. */
  rootPath: string;
  shardDir: string;
  labels: LabelRegistry;
  images: ImageIntakeConfig;
  mode: OdvgMode;
  /** Write images whose boxes were all rejected (OD mode), as background-only samples. */
  keepNegativeOnly: boolean;
  /** Where the start-up sweep of stale image temps reports (silent by default). */
  logger?: Logger;
  /** When an image temp counts as stale (DEFAULT_STALE_TEMP_RULE). */
  staleTemps?: Partial<Omit<StaleTempRule, 'now'>>;
}

export const LABEL_MAP_FILE = 'label_map.json';
export const LABELS_TXT = 'labels.txt';
export const DATASET_FILE = 'dataset.json';

/**
 * dataset.json with one `train` entry: the merged training set (`file`, a storage path).
 * The per-query shards are not listed: the loader would read an image once per query.
 */
export function trainingSetJson(rootPath: string, file: string, mode: OdvgMode): string {
  const labelMap = mode === 'vg' ? null : path.join(rootPath, LABEL_MAP_FILE);
  return datasetJson([datasetEntry(rootPath, path.join(rootPath, file), labelMap)]);
}

export class OdvgFormat implements SinkFormat<PseudoLabel> {
  readonly name = 'odvg';
  private readonly images: ImageStore;
  private writtenLabels = -1;
  private resweep?: NodeJS.Timeout;
  private resweeping?: Promise<number>;
  private readonly merger: OdvgMerger;
  private rebuilding: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** What the last rebuild of the merged training set wrote. */
  lastMerge: OdvgMergeCounts | null = null;
  /**
   * How many stale image temps the start-up sweep removed. The sweep starts with the sink
   * and runs beside it: this instance's own writes are never stale, so nothing waits for it.
   */
  readonly staleImageTemps: Promise<number>;

  constructor(private readonly o: OdvgFormatOptions) {
    this.images = new ImageStore(o.storage, o.images);
    // People's verdicts from `valor-stream review` live in the dataset directory and apply at every rebuild.
    const verdicts = new FileHumanVerdictLog(o.rootPath);
    this.merger = new OdvgMerger(o.storage, { shardDir: o.shardDir, mode: o.mode, verdicts: () => verdicts.all() });
    this.staleImageTemps = this.sweepImageTemps(true);
  }

  /**
   * Deletes the temps killed sinks left among the images and logs how many. Temps of a dead
   * writer that are still within the grace are left (they may be another host's live
   * write); when there are some, one more sweep runs once the grace has passed, so a sink
   * restarted right after a crash still cleans up after it.
   */
  private async sweepImageTemps(first: boolean): Promise<number> {
    const log = this.o.logger ?? silentLogger;
    const rule = { ...DEFAULT_STALE_TEMP_RULE, ...this.o.staleTemps };
    try {
      const { removed, pending } = await this.images.removeStaleTemps(rule);
      log.info({ removed, pending, dir: 'images' }, 'removed stale image temps left by killed sink writers');
      if (first && pending > 0) {
        this.resweep = setTimeout(() => (this.resweeping = this.sweepImageTemps(false)), rule.graceMs + 1_000);
        this.resweep.unref();
      }
      return removed;
    } catch (err) {
      log.warn({ error: String(err), dir: 'images' }, 'could not remove stale image temps; they stay until the next start');
      return 0;
    }
  }

  async format(p: PseudoLabel): Promise<FormattedLine | null> {
    const cats = categoriesOf(p);
    if (p.accepted.length === 0 && (this.o.mode === 'vg' || !this.o.keepNegativeOnly)) return null;
    const filename = await this.images.materialise(p.image);
    const ids = this.o.mode === 'od' ? await this.o.labels.idsFor(cats) : new Map<string, number>();
    const out = toOdvg(p, filename, ids, { mode: this.o.mode, keepNegativeOnly: this.o.keepNegativeOnly });
    if (!out) return null;
    return { line: JSON.stringify(out.record), signature: out.signature, versions: [p.verifierVersion] };
  }

  /**
   * label_map.json / labels.txt from the registry, the merged training set from every
   * finished shard, and dataset.json pointing at it. Rebuilds run one at a time, and calls
   * that arrive during one share the next (partitions close shards concurrently).
   */
  onShardsClosed(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.rebuilding) return (this.rebuilding = this.rebuild().finally(() => (this.rebuilding = null)));
    this.queued = this.rebuilding
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return (this.rebuilding = this.rebuild().finally(() => (this.rebuilding = null)));
      });
    return this.queued;
  }

  // Cost per call: reading the shards closed since the last call (the merger keeps the rest
  // in memory, one entry per image), then rewriting the whole merged file, one line per
  // image. On a very large set the rewrite dominates; it is a sequential write of a file
  // about the size of the distinct images' records.
  private async rebuild(): Promise<void> {
    await this.writeLabels();
    await this.merger.update();
    let counts: OdvgMergeCounts;
    try {
      counts = await this.merger.write(this.o.mode === 'vg' ? null : this.o.labels.labels());
    } catch (err) {
      if (!(err instanceof LabelMapBehindError)) throw err;
      // Another instance added these categories and this one has not read them from the
      // label log yet: asking for their ids reads the log at least up to them.
      await this.o.labels.idsFor(err.categories);
      await this.writeLabels();
      counts = await this.merger.write(this.o.labels.labels());
    }
    await this.o.storage.writeAtomic(DATASET_FILE, trainingSetJson(this.o.rootPath, this.merger.file, this.o.mode));
    this.lastMerge = counts;
    (this.o.logger ?? silentLogger).debug({ ...counts, file: this.merger.file }, 'merged training set rewritten');
  }

  private async writeLabels(): Promise<void> {
    const labels = this.o.labels.labels();
    if (labels.length === this.writtenLabels) return;
    await this.o.storage.writeAtomic(LABEL_MAP_FILE, labelMapJson(labels));
    await this.o.storage.writeAtomic(LABELS_TXT, labels.join('\n') + (labels.length ? '\n' : ''));
    this.writtenLabels = labels.length;
  }

  async close(): Promise<void> {
    clearTimeout(this.resweep);
    await this.staleImageTemps;
    await this.resweeping;
  }
}
