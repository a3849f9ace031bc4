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
exports.FileStoreProvider = exports.FileStore = void 0;
// A KeyValueStore in an append-only JSON-lines file, for the embedded runtime: it survives
// restarts of the process, and processes on one host (or a shared volume) can share it by
// pointing at the same directory. Later lines win; a torn last line (a crash mid-append)
// is skipped on load, which only costs the cache entry it held.
const fs = __importStar(require("node:fs"));
const path = __importStar(require("node:path"));
class FileStore {
    name;
    file;
    map = new Map();
    fd;
    tail = Promise.resolve();
    constructor(name, file) {
        this.name = name;
        this.file = file;
    }
    static async open(dir, name) {
        if (!/^[A-Za-z0-9._-]+$/.test(name))
            throw new Error(`store name '${name}' may use only letters, digits, '.', '_' and '-'`);
        await fs.promises.mkdir(dir, { recursive: true });
        const store = new FileStore(name, path.join(dir, `${name}.jsonl`));
        let text = '';
        try {
            text = await fs.promises.readFile(store.file, 'utf8');
        }
        catch (err) {
            if (err.code !== 'ENOENT')
                throw err;
        }
        for (const line of text.split('\n')) {
            if (!line)
                continue;
            try {
                const [k, v] = JSON.parse(line);
                if (typeof k === 'string' && typeof v === 'string')
                    store.map.set(k, v);
            }
            catch {
                // torn write: skip
            }
        }
        store.fd = await fs.promises.open(store.file, 'a');
        // End a torn line so the next entry starts on a line of its own.
        if (text && !text.endsWith('\n'))
            await store.fd.appendFile('\n');
        return store;
    }
    async get(key) {
        return this.map.get(key);
    }
    async put(key, value) {
        this.map.set(key, value);
        const line = JSON.stringify([key, value]) + '\n';
        // Appends are serialised so that lines never interleave within this process.
        const write = this.tail.then(async () => {
            await this.fd.appendFile(line);
        });
        this.tail = write.catch(() => undefined);
        await write;
    }
    size() {
        return this.map.size;
    }
    async close() {
        await this.tail;
        await this.fd?.sync().catch(() => undefined);
        await this.fd?.close();
        this.fd = undefined;
    }
}
exports.FileStore = FileStore;
class FileStoreProvider {
    dir;
    stores = new Map();
    constructor(dir) {
        this.dir = dir;
    }
    open(name) {
        let s = this.stores.get(name);
        if (!s)
            this.stores.set(name, (s = FileStore.open(this.dir, name)));
        return s;
    }
    async close() {
        for (const s of this.stores.values())
            await (await s).close();
        this.stores.clear();
    }
}
exports.FileStoreProvider = FileStoreProvider;
//# sourceMappingURL=file-store.js.map