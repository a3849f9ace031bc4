"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.MemoryRegistry = exports.IncompatibleSchemaError = void 0;
const registry_client_1 = require("./registry-client");
class IncompatibleSchemaError extends Error {
    name = 'IncompatibleSchemaError';
}
exports.IncompatibleSchemaError = IncompatibleSchemaError;
/**
 * An in-process registry with the same ids-per-schema, framing and BACKWARD rule as a
 * real one, for the embedded runtime and tests that need no server.
 */
class MemoryRegistry {
    byId = new Map();
    subjects = new Map();
    idsByText = new Map();
    nextId = 1;
    async register(subject, schema) {
        const versions = this.subjects.get(subject) ?? [];
        const existing = versions.find((v) => v.json === schema.json);
        if (existing)
            return existing.id;
        const latest = versions[versions.length - 1];
        if (latest) {
            // BACKWARD: the new schema must read data written with the latest one.
            try {
                schema.type.createResolver(this.byId.get(latest.id));
            }
            catch (err) {
                throw new IncompatibleSchemaError(`schema for subject '${subject}' is not BACKWARD compatible with version ${versions.length}: ${err.message}`);
            }
        }
        let id = this.idsByText.get(schema.json);
        if (id === undefined) {
            id = this.nextId++;
            this.idsByText.set(schema.json, id);
            this.byId.set(id, schema.type);
        }
        versions.push({ id, json: schema.json });
        this.subjects.set(subject, versions);
        return id;
    }
    async encode(schemaId, value) {
        const type = this.byId.get(schemaId);
        if (!type)
            throw new Error(`schema id ${schemaId} is not registered`);
        return (0, registry_client_1.frame)(schemaId, type.toBuffer(value));
    }
    decoder = new registry_client_1.FrameDecoder(async (id) => {
        const writer = this.byId.get(id);
        if (!writer)
            throw new Error(`schema id ${id} is not registered`);
        return writer;
    });
    decode(buffer, reader) {
        return this.decoder.decode(buffer, reader);
    }
}
exports.MemoryRegistry = MemoryRegistry;
//# sourceMappingURL=memory-registry.js.map