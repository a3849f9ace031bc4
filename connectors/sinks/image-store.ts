// Images of the training set, materialised once each under a content address
// (`images/<sha256[0:2]>/<sha256>.<ext>`), so an image shared by many records, replays and
// sink instances is stored once, and a shard line's `filename` never dangles. A sink killed
// mid-write leaves the image's temp (`<address>.<pid>-<n>.tmp`) next to it; nothing reads
// temps, and removeStaleTemps() deletes them when a sink starts.
import { ValidationError } from '../../core/errors';
import { ImageIntake, ImageIntakeConfig } from '../../models/images/image-intake';
import type { PseudoLabel } from '../../schemas/generated/types';
import type { StaleTempRule } from './shard-storage';

export interface BlobWriter {
  exists(relPath: string): Promise<boolean>;
  /** Written whole under its final name, or not at all. */
  writeAtomic(relPath: string, data: Buffer): Promise<void>;
  /** Deletes stale temps of writeAtomic under `dir` (see ShardStorage). */
  removeStaleTempsUnder(dir: string, rule?: Partial<StaleTempRule>): Promise<{ removed: number; pending: number }>;
}

/** Where images live, relative to the dataset root. */
export const IMAGE_DIR = 'images';

const EXT: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/tiff': 'tif',
  'image/heif': 'heif',
  'image/svg+xml': 'svg',
};

export class ImageStore {
  private readonly intake: ImageIntake;
  /** Addresses known to exist, so repeated images cost no I/O. */
  private readonly known = new Set<string>();

  constructor(
    private readonly blobs: BlobWriter,
    images: ImageIntakeConfig,
  ) {
    this.intake = new ImageIntake(images);
  }

  /** The image's path relative to the dataset root, writing it if new. */
  async materialise(image: PseudoLabel['image'], signal?: AbortSignal): Promise<string> {
    if (image.sha256 && image.mediaType && EXT[image.mediaType]) {
      const rel = address(image.sha256, EXT[image.mediaType]!);
      if (this.known.has(rel) || (await this.blobs.exists(rel))) {
        this.known.add(rel);
        return rel;
      }
    }
    const loaded = await this.intake.load(image, signal);
    const ext = EXT[loaded.mediaType];
    if (!ext) throw new ValidationError(`image ${loaded.source}: no file extension for media type ${loaded.mediaType}`);
    const rel = address(loaded.sha256, ext);
    if (!this.known.has(rel) && !(await this.blobs.exists(rel))) await this.blobs.writeAtomic(rel, loaded.bytes);
    this.known.add(rel);
    return rel;
  }

  /** Deletes temps that killed writers left under images/ (by `rule`; see StaleTempRule). */
  removeStaleTemps(rule?: Partial<StaleTempRule>): Promise<{ removed: number; pending: number }> {
    return this.blobs.removeStaleTempsUnder(IMAGE_DIR, rule);
  }
}

function address(sha256: string, ext: string): string {
  return `${IMAGE_DIR}/${sha256.slice(0, 2)}/${sha256}.${ext}`;
}
