// The ODVG sink's SinkFormat: a pseudo-label becomes one ODVG line (OD or VG), its image is
// materialised once under a content address, its categories get stable label ids, and the
// dataset index (label_map.json, labels.txt, dataset.json) is rewritten when shards close.
import * as path from 'node:path';
import { Logger, silentLogger } from '../../core/logger';
import type { ImageIntakeConfig } from '../../models/images/image-intake';
import type { PseudoLabel } from '../../schemas/generated/types';
import { ImageStore } from './image-store';
import type { LabelRegistry } from './label-registry';
import { categoriesOf, datasetEntry, datasetJson, labelMapJson, OdvgMode, toOdvg } from './odvg';
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

export class OdvgFormat implements SinkFormat<PseudoLabel> {
  readonly name = 'odvg';
  private readonly images: ImageStore;
  private writtenLabels = -1;
  private resweep?: NodeJS.Timeout;
  private resweeping?: Promise<number>;
  /**
   * How many stale image temps the start-up sweep removed. The sweep starts with the sink
   * and runs beside it: this instance's own writes are never stale, so nothing waits for it.
   */
  readonly staleImageTemps: Promise<number>;

  constructor(private readonly o: OdvgFormatOptions) {
    this.images = new ImageStore(o.storage, o.images);
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

  /** label_map.json / labels.txt from the registry, dataset.json from every finished shard. */
  async onShardsClosed(): Promise<void> {
    const labels = this.o.labels.labels();
    if (labels.length !== this.writtenLabels) {
      await this.o.storage.writeAtomic(LABEL_MAP_FILE, labelMapJson(labels));
      await this.o.storage.writeAtomic(LABELS_TXT, labels.join('\n') + (labels.length ? '\n' : ''));
      this.writtenLabels = labels.length;
    }
    const shards = (await this.o.storage.list(this.o.shardDir)).filter((f) => f.name.endsWith('.jsonl'));
    const root = this.o.rootPath;
    const labelMap = this.o.mode === 'vg' ? null : path.join(root, LABEL_MAP_FILE);
    const train = shards.map((f) => datasetEntry(root, path.join(root, this.o.shardDir, f.name), labelMap));
    await this.o.storage.writeAtomic(DATASET_FILE, datasetJson(train));
  }

  async close(): Promise<void> {
    clearTimeout(this.resweep);
    await this.staleImageTemps;
    await this.resweeping;
  }
}
