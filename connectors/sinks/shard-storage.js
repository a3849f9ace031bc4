"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", { value: true });
exports.LocalFileStorage = void 0;
exports.syncDir = syncDir;
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
// - `removeStaleTemps` is a no-op there for the same reason.
//
// Paths are '/'-separated and relative to the storage root; none may escape it.
const node_fs_1 = require("node:fs");
const fs = __importStar(require("node:fs/promises"));
const path = __importStar(require("node:path"));
const node_util_1 = require("node:util");
const readFileCb = (0, node_util_1.promisify)(node_fs_1.readFile);
// writeAtomic's temps: `<final>.<pid>-<seq>.tmp`. The pid keeps concurrent processes that
// write the same file (a manifest shared by several sink processes) off each other's temp.
const ATOMIC_TEMP = /^(.*)\.(\d+)-(\d+)\.tmp$/;
function processIsAlive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    }
    catch (err) {
        // EPERM: it exists but belongs to another user.
        return err.code === 'EPERM';
    }
}
function isMissing(err) {
    return err?.code === 'ENOENT';
}
class LocalTempFile {
    path;
    fh;
    constructor(path, fh) {
        this.path = path;
        this.fh = fh;
    }
    async write(data) {
        // FileHandle.write may write fewer bytes than asked; writeFile loops until all are out.
        await this.fh.writeFile(data);
    }
    sync() {
        return this.fh.sync();
    }
    close() {
        return this.fh.close();
    }
}
/**
 * ShardStorage on a local (POSIX) file system under `rootDir`: fsync for durability,
 * rename for atomic publication, and an fsync of the directory after every rename so the
 * new name itself survives a power loss.
 */
class LocalFileStorage {
    rootDir;
    seq = 0;
    constructor(rootDir) {
        this.rootDir = path.resolve(rootDir);
    }
    /** The absolute path of a storage path; refuses paths that leave the root. */
    resolve(p) {
        const abs = path.resolve(this.rootDir, p);
        if (abs !== this.rootDir && !abs.startsWith(this.rootDir + path.sep)) {
            throw new Error(`storage path '${p}' is outside the storage root ${this.rootDir}`);
        }
        return abs;
    }
    async list(dir, namePrefix = '') {
        const abs = this.resolve(dir);
        let entries;
        try {
            entries = await fs.readdir(abs, { withFileTypes: true });
        }
        catch (err) {
            if (isMissing(err))
                return [];
            throw err;
        }
        const names = entries.filter((e) => e.isFile() && e.name.startsWith(namePrefix)).map((e) => e.name).sort();
        const out = [];
        // Stats in parallel batches: a listing of thousands of shards must stay fast.
        for (let i = 0; i < names.length; i += 64) {
            const batch = names.slice(i, i + 64);
            const sizes = await Promise.all(batch.map((n) => fs.stat(path.join(abs, n)).then((s) => s.size, (err) => {
                if (isMissing(err))
                    return null; // deleted between readdir and stat
                throw err;
            })));
            batch.forEach((name, j) => {
                const size = sizes[j];
                if (size !== null && size !== undefined)
                    out.push({ name, size });
            });
        }
        return out;
    }
    async createTemp(p) {
        const abs = this.resolve(p);
        await this.ensureDir(path.dirname(abs));
        return new LocalTempFile(p, await fs.open(abs, 'w'));
    }
    async publish(tempPath, finalPath) {
        const from = this.resolve(tempPath);
        const to = this.resolve(finalPath);
        await this.ensureDir(path.dirname(to));
        await fs.rename(from, to);
        await syncDir(path.dirname(to));
        if (path.dirname(from) !== path.dirname(to))
            await syncDir(path.dirname(from));
    }
    async writeAtomic(p, data) {
        const abs = this.resolve(p);
        await this.ensureDir(path.dirname(abs));
        const tmp = `${abs}.${process.pid}-${this.seq++}.tmp`;
        const fh = await fs.open(tmp, 'w');
        try {
            await fh.writeFile(data);
            await fh.sync();
        }
        catch (err) {
            await fh.close().catch(() => undefined);
            await fs.rm(tmp, { force: true });
            throw err;
        }
        await fh.close();
        await fs.rename(tmp, abs);
        await syncDir(path.dirname(abs));
    }
    async read(p) {
        // The callback readFile: fs/promises' readFile is about 3x slower on the many small
        // metas that recovery reads (Node 20).
        return readFileCb(this.resolve(p));
    }
    async size(p) {
        try {
            return (await fs.stat(this.resolve(p))).size;
        }
        catch (err) {
            if (isMissing(err))
                return null;
            throw err;
        }
    }
    async exists(p) {
        return (await this.size(p)) !== null;
    }
    async delete(p) {
        await fs.rm(this.resolve(p), { force: true });
    }
    async removeStaleTemps(p) {
        const dir = path.posix.dirname(p);
        const base = path.posix.basename(p);
        let removed = 0;
        for (const f of await this.list(dir, `${base}.`)) {
            const m = ATOMIC_TEMP.exec(f.name);
            if (!m || m[1] !== base)
                continue;
            const pid = Number(m[2]);
            // Only a dead process's temp is stale: a live one may be about to rename it.
            if (pid === process.pid || processIsAlive(pid))
                continue;
            await this.delete(path.posix.join(dir, f.name));
            removed++;
        }
        return removed;
    }
    // mkdir -p, then fsync the parent of every directory it created, so that the new
    // directory entries are as durable as the files later renamed into them.
    async ensureDir(abs) {
        const first = await fs.mkdir(abs, { recursive: true });
        if (first === undefined)
            return;
        let d = abs;
        const created = [];
        while (d.length >= first.length) {
            created.push(d);
            if (d === first)
                break;
            d = path.dirname(d);
        }
        for (const c of created)
            await syncDir(path.dirname(c));
    }
}
exports.LocalFileStorage = LocalFileStorage;
/** fsync a directory, which makes the creations, renames and deletions inside it durable. */
async function syncDir(absDir) {
    const fh = await fs.open(absDir, 'r');
    try {
        await fh.sync();
    }
    finally {
        await fh.close();
    }
}
//# sourceMappingURL=shard-storage.js.map