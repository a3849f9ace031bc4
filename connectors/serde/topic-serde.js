"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.SerdeSet = exports.TopicSerde = exports.valueSubject = void 0;
const catalog_1 = require("../../schemas/catalog");
const errors_1 = require("../../core/errors");
/** Subject naming: TopicNameStrategy, `<topic>-value`. */
const valueSubject = (topic) => `${topic}-value`;
exports.valueSubject = valueSubject;
/**
 * Avro value serde for one topic. Registers the topic's schema on first use, encodes
 * after validating (errors name the bad fields), and decodes any writer version that
 * resolves into our reader schema; anything else is a DecodeError with the reason.
 */
class TopicSerde {
    topic;
    typeName;
    registry;
    schema;
    schemaId;
    constructor(topic, typeName, registry) {
        this.topic = topic;
        this.typeName = typeName;
        this.registry = registry;
        this.schema = (0, catalog_1.loadSchema)(typeName);
    }
    id() {
        if (!this.schemaId) {
            this.schemaId = this.registry.register((0, exports.valueSubject)(this.topic), this.schema);
            this.schemaId.catch(() => (this.schemaId = undefined)); // let a later call retry
        }
        return this.schemaId;
    }
    async encode(value) {
        const bad = (0, catalog_1.invalidPaths)(this.typeName, value);
        if (bad.length > 0) {
            throw new errors_1.ValidationError(`${this.typeName} for topic '${this.topic}' has invalid field(s): ${bad.join(', ')}`);
        }
        return this.registry.encode(await this.id(), value);
    }
    async decode(buffer) {
        if (!buffer)
            throw new errors_1.DecodeError(`empty value on '${this.topic}' (tombstone) where a ${this.typeName} was expected`);
        try {
            return (await this.registry.decode(buffer, this.schema));
        }
        catch (err) {
            const retriable = isNetworkError(err);
            throw new errors_1.DecodeError(`cannot decode value on '${this.topic}' as ${this.typeName}: ${err.message ?? String(err)}`, { cause: err, retriable });
        }
    }
}
exports.TopicSerde = TopicSerde;
function isNetworkError(err) {
    const code = err?.cause?.code ?? err?.code;
    return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT';
}
/** One serde per topic, shared by every node of a process. */
class SerdeSet {
    registry;
    typeOf;
    serdes = new Map();
    constructor(registry, typeOf) {
        this.registry = registry;
        this.typeOf = typeOf;
    }
    for(topic) {
        let s = this.serdes.get(topic);
        if (!s) {
            s = new TopicSerde(topic, this.typeOf(topic), this.registry);
            this.serdes.set(topic, s);
        }
        return s;
    }
}
exports.SerdeSet = SerdeSet;
//# sourceMappingURL=topic-serde.js.map