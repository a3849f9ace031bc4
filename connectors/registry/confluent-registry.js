"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.ConfluentRegistry = void 0;
const confluent_schema_registry_1 = require("@kafkajs/confluent-schema-registry");
const registry_client_1 = require("./registry-client");
/**
 * Any Confluent-compatible registry (Confluent Schema Registry, Apicurio's
 * /apis/ccompat/v7, Karapace) through @kafkajs/confluent-schema-registry.
 */
class ConfluentRegistry {
    url;
    client;
    // The client caches writer schemas by id; we add cached resolvers on top, since its own
    // decode() rebuilds the reader schema and resolver for every record.
    decoder = new registry_client_1.FrameDecoder(async (id) => (await this.client.getSchema(id)));
    constructor(url, auth) {
        this.url = url;
        this.client = new confluent_schema_registry_1.SchemaRegistry({ host: url.replace(/\/$/, ''), auth });
    }
    async register(subject, schema) {
        // Set the subject's compatibility explicitly first: Apicurio answers GET /config/{subject}
        // with the global default even for unknown subjects, so the client's own check would
        // otherwise compare against whatever the server-wide default happens to be.
        await this.putCompatibility(subject, 'BACKWARD');
        const { id } = await this.client.register({ type: confluent_schema_registry_1.SchemaType.AVRO, schema: schema.json }, { subject, compatibility: confluent_schema_registry_1.COMPATIBILITY.BACKWARD });
        return id;
    }
    async putCompatibility(subject, level) {
        const res = await fetch(`${this.url.replace(/\/$/, '')}/config/${encodeURIComponent(subject)}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
            body: JSON.stringify({ compatibility: level }),
        });
        if (!res.ok)
            throw new Error(`registry refused compatibility ${level} for '${subject}': HTTP ${res.status} ${await res.text()}`);
    }
    encode(schemaId, value) {
        return this.client.encode(schemaId, value);
    }
    decode(buffer, reader) {
        return this.decoder.decode(buffer, reader);
    }
}
exports.ConfluentRegistry = ConfluentRegistry;
//# sourceMappingURL=confluent-registry.js.map