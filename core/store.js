"use strict";
// Key-value state a processor can keep across records and restarts (e.g. the verifier's
// verdict cache), in the spirit of Kafka Streams' state stores. The runtime decides where
// it lives: in memory for tests, a file for the embedded runtime, a compacted topic on
// Kafka so that every instance shares it and it survives restarts.
Object.defineProperty(exports, "__esModule", { value: true });
exports.MemoryStoreProvider = exports.MemoryStore = void 0;
class MemoryStore {
    name;
    map = new Map();
    constructor(name) {
        this.name = name;
    }
    async get(key) {
        return this.map.get(key);
    }
    async put(key, value) {
        this.map.set(key, value);
    }
    size() {
        return this.map.size;
    }
}
exports.MemoryStore = MemoryStore;
/** Stores that live as long as the provider: one per name. */
class MemoryStoreProvider {
    stores = new Map();
    async open(name) {
        let s = this.stores.get(name);
        if (!s)
            this.stores.set(name, (s = new MemoryStore(name)));
        return s;
    }
    async close() { }
}
exports.MemoryStoreProvider = MemoryStoreProvider;
//# sourceMappingURL=store.js.map