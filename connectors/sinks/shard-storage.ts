// Where shard files live. The shard writer needs only the operations below, so an object
// store (S3, GCS, Azure Blob) can stand in for the local file system later.
//
// How the operations map onto an object store, which has no rename and no fsync:
// - `createTemp(path)` returns a handle that buffers or spools the bytes (locally or as a
//   multipart upload that is not yet visible). Nothing appears under `path` in `list`.
// - `TempFile.sync()` makes the bytes written so far survive a crash of this process; on
//   an object store it may be a no-op, because an unfinished upload is thrown away anyway.
// - `publish(temp, final)` completes the upload under its FINAL key, so a finished object is
//   written exactly once under its final name and appears whole or not at all.
// - `writeAtomic(path, data)` is a single PUT.
// - `list(dir, namePrefix)` is ListObjects with Prefix `dir/namePrefix` and Delimiter `/`.
//   Temps that an object store never shows (unfinished uploads) are cleaned by a lifecycle
//   rule that aborts incomplete multipart uploads, not by the writer.
// - `removeStaleTemps` and `removeStaleTempsUnder` are no-ops there for the same reason.
//
// Paths are '/'-separated and relative to the storage root; none may escape it.
import { readFile as readFileCallback } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const readFileCb = promisify(readFileCallback);

/** A finished (or, on a local FS, temporary) file directly inside a listed directory. */
export interface StoredFile {
  /** The file name, without the directory. */
  name: string;
  /** Size in bytes, from the listing (no read). */
  size: number;
}

/** A file being written that nobody else sees until it is published. */
export interface TempFile {
  readonly path: string;
  /** Appends bytes (a string is written as UTF-8). Calls must not overlap. */
  write(data: string | Uint8Array): Promise<void>;
  /** Makes everything written so far durable (fsync on a local FS). */
  sync(): Promise<void>;
  /** Releases the handle; the file stays where it is until published or deleted. */
  close(): Promise<void>;
}

export interface ShardStorage {
  /**
   * Files directly inside `dir` whose name starts with `namePrefix`, sorted by name, with
   * their sizes. A directory that does not exist lists as empty.
   */
  list(dir: string, namePrefix?: string): Promise<StoredFile[]>;
  /** Creates (or truncates) a temporary file at `path`, creating its directory. */
  createTemp(path: string): Promise<TempFile>;
  /**
   * Atomically moves a closed, synced temp file to its final name and makes the move
   * durable. After it resolves, a crash cannot undo it.
   */
  publish(tempPath: string, finalPath: string): Promise<void>;
  /** Writes a whole file so that readers and crashes see either the old or the new content. */
  writeAtomic(path: string, data: string | Uint8Array): Promise<void>;
  read(path: string): Promise<Buffer>;
  /** Size in bytes, or null when there is no such file. */
  size(path: string): Promise<number | null>;
  exists(path: string): Promise<boolean>;
  /** Deletes a file; a file that is already gone is not an error. */
  delete(path: string): Promise<void>;
  /**
   * Deletes temps that interrupted `writeAtomic(path)` calls of processes that no longer
   * run left behind, and returns how many it deleted. LocalFileStorage judges "no longer
   * runs" by pid on this host: on a volume shared by several hosts, a temp of another
   * host's live writer may be taken for stale, and that one write then fails.
   */
  removeStaleTemps(path: string): Promise<number>;
  /**
   * Deletes stale `writeAtomic` temps anywhere under `dir` (for example the images a killed
   * sink was writing), by `rule`. Returns how many it deleted, and how many it left only
   * because they are younger than `rule.graceMs` (a sweep after the grace gets them).
   */
  removeStaleTempsUnder(dir: string, rule?: Partial<StaleTempRule>): Promise<{ removed: number; pending: number }>;
}

/**
 * When a writeAtomic temp under a shared directory counts as stale. Its name carries its
 * writer's pid, but a pid only means something on this host and in this pid namespace:
 * two sink containers sharing a volume, or two hosts on NFS, each see the other's pids as
 * dead (or as some unrelated live process). So a temp is deleted when its writer is not
 * alive here AND it has not been written for `graceMs`, or when it has not been written
 * for `maxAgeMs` whoever wrote it (this also gets temps of a reused pid). A live write
 * goes from its last byte to its rename in an fsync's time, far below either bound, so
 * neither rule can take a temp from under a live writer; a stale temp only costs disk
 * until the next sweep.
 */
export interface StaleTempRule {
  graceMs: number;
  maxAgeMs: number;
  /** The clock to age temps by (their mtime); Date.now() by default. */
  now: number;
}

export const DEFAULT_STALE_TEMP_RULE: Omit<StaleTempRule, 'now'> = { graceMs: 60_000, maxAgeMs: 3_600_000 };

// writeAtomic's temps: `<final>.<pid>-<seq>.tmp`. The pid keeps concurrent processes that
// write the same file (a manifest shared by several sink processes) off each other's temp.
const ATOMIC_TEMP = /^(.*)\.(\d+)-(\d+)\.tmp$/;

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

class LocalTempFile implements TempFile {
  constructor(
    readonly path: string,
    private readonly fh: fs.FileHandle,
  ) {}

  async write(data: string | Uint8Array): Promise<void> {
    // FileHandle.write may write fewer bytes than asked; writeFile loops until all are out.
    await this.fh.writeFile(data);
  }

  sync(): Promise<void> {
    return this.fh.sync();
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/**
 * ShardStorage on a local (POSIX) file system under `rootDir`: fsync for durability,
 * rename for atomic publication, and an fsync of the directory after every rename so the
 * new name itself survives a power loss.
 */
export class LocalFileStorage implements ShardStorage {
  readonly rootDir: string;
  private seq = 0;

  constructor(rootDir: string) {
    this.rootDir = path.resolve(rootDir);
  }

  /** The absolute path of a storage path; refuses paths that leave the root. */
  resolve(p: string): string {
    const abs = path.resolve(this.rootDir, p);
    if (abs !== this.rootDir && !abs.startsWith(this.rootDir + path.sep)) {
      throw new Error(`storage path '${p}' is outside the storage root ${this.rootDir}`);
    }
    return abs;
  }

  async list(dir: string, namePrefix = ''): Promise<StoredFile[]> {
    const abs = this.resolve(dir);
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(abs, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    const names = entries
      .filter((e) => e.isFile() && e.name.startsWith(namePrefix))
      .map((e) => e.name)
      .sort();
    const out: StoredFile[] = [];
    // Stats in parallel batches: a listing of thousands of shards must stay fast.
    for (let i = 0; i < names.length; i += 64) {
      const batch = names.slice(i, i + 64);
      const sizes = await Promise.all(
        batch.map((n) =>
          fs.stat(path.join(abs, n)).then(
            (s) => s.size,
            (err) => {
              if (isMissing(err)) return null; // deleted between readdir and stat
              throw err;
            },
          ),
        ),
      );
      batch.forEach((name, j) => {
        const size = sizes[j];
        if (size !== null && size !== undefined) out.push({ name, size });
      });
    }
    return out;
  }

  async createTemp(p: string): Promise<TempFile> {
    const abs = this.resolve(p);
    await this.ensureDir(path.dirname(abs));
    return new LocalTempFile(p, await fs.open(abs, 'w'));
  }

  async publish(tempPath: string, finalPath: string): Promise<void> {
    const from = this.resolve(tempPath);
    const to = this.resolve(finalPath);
    await this.ensureDir(path.dirname(to));
    await fs.rename(from, to);
    await syncDir(path.dirname(to));
    if (path.dirname(from) !== path.dirname(to)) await syncDir(path.dirname(from));
  }

  async writeAtomic(p: string, data: string | Uint8Array): Promise<void> {
    const abs = this.resolve(p);
    await this.ensureDir(path.dirname(abs));
    const tmp = `${abs}.${process.pid}-${this.seq++}.tmp`;
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    await fs.rename(tmp, abs);
    await syncDir(path.dirname(abs));
  }

  async read(p: string): Promise<Buffer> {
    // The callback readFile: fs/promises' readFile is about 3x slower on the many small
    // metas that recovery reads (Node 20).
    return readFileCb(this.resolve(p));
  }

  async size(p: string): Promise<number | null> {
    try {
      return (await fs.stat(this.resolve(p))).size;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async exists(p: string): Promise<boolean> {
    return (await this.size(p)) !== null;
  }

  async delete(p: string): Promise<void> {
    await fs.rm(this.resolve(p), { force: true });
  }

  async removeStaleTemps(p: string): Promise<number> {
    const dir = path.posix.dirname(p);
    const base = path.posix.basename(p);
    let removed = 0;
    for (const f of await this.list(dir, `${base}.`)) {
      const m = ATOMIC_TEMP.exec(f.name);
      if (!m || m[1] !== base) continue;
      const pid = Number(m[2]);
      // Only a dead process's temp is stale: a live one may be about to rename it.
      if (pid === process.pid || processIsAlive(pid)) continue;
      await this.delete(path.posix.join(dir, f.name));
      removed++;
    }
    return removed;
  }

  async removeStaleTempsUnder(dir: string, rule: Partial<StaleTempRule> = {}): Promise<{ removed: number; pending: number }> {
    const { graceMs, maxAgeMs } = { ...DEFAULT_STALE_TEMP_RULE, ...rule };
    const now = rule.now ?? Date.now();
    const out = { removed: 0, pending: 0 };
    const walk = async (abs: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(abs, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      // Names only: a listing of many images must not stat every one of them.
      for (const e of entries) {
        const child = path.join(abs, e.name);
        if (e.isDirectory()) {
          await walk(child);
          continue;
        }
        const m = e.isFile() ? ATOMIC_TEMP.exec(e.name) : null;
        if (!m) continue;
        let age: number;
        try {
          age = now - (await fs.stat(child)).mtimeMs;
        } catch (err) {
          if (isMissing(err)) continue; // renamed or removed meanwhile
          throw err;
        }
        const pid = Number(m[2]);
        const alive = pid === process.pid || processIsAlive(pid);
        if (age >= maxAgeMs || (!alive && age >= graceMs)) {
          await fs.rm(child, { force: true });
          out.removed++;
        } else if (!alive) {
          out.pending++;
        }
      }
    };
    await walk(this.resolve(dir));
    return out;
  }

  // mkdir -p, then fsync the parent of every directory it created, so that the new
  // directory entries are as durable as the files later renamed into them.
  private async ensureDir(abs: string): Promise<void> {
    const first = await fs.mkdir(abs, { recursive: true });
    if (first === undefined) return;
    let d = abs;
    const created: string[] = [];
    while (d.length >= first.length) {
      created.push(d);
      if (d === first) break;
      d = path.dirname(d);
    }
    for (const c of created) await syncDir(path.dirname(c));
  }
}

/** fsync a directory, which makes the creations, renames and deletions inside it durable. */
export async function syncDir(absDir: string): Promise<void> {
  const fh = await fs.open(absDir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
