"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.EmbeddedWriter = void 0;
/** Writes typed records onto the embedded log, as a producer would to Kafka. */
class EmbeddedWriter {
    runtime;
    constructor(runtime) {
        this.runtime = runtime;
    }
    write(topic, records) {
        return this.runtime.produce(topic, records);
    }
    async close() { }
}
exports.EmbeddedWriter = EmbeddedWriter;
//# sourceMappingURL=embedded-writer.js.map