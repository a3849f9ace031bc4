"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.FrameDecoder = exports.MAGIC_BYTE = void 0;
exports.parseFrame = parseFrame;
exports.frame = frame;
exports.MAGIC_BYTE = 0;
/**
 * Decodes a frame with the writer schema it names, resolved into the reader schema.
 * Resolvers are cached per (writer id, reader): building one parses both schemas, which
 * costs far more than decoding a record.
 */
class FrameDecoder {
    writerType;
    resolvers = new Map();
    constructor(writerType) {
        this.writerType = writerType;
    }
    async decode(buffer, reader) {
        const { schemaId, payload } = parseFrame(buffer);
        const key = `${schemaId}\u0000${reader.name}\u0000${reader.json.length}`;
        let resolver = this.resolvers.get(key);
        if (!resolver) {
            resolver = this.writerType(schemaId).then((writer) => writer.equals(reader.type) ? null : reader.type.createResolver(writer));
            resolver.catch(() => this.resolvers.delete(key)); // unknown id now may exist later
            this.resolvers.set(key, resolver);
        }
        const r = await resolver;
        return r ? reader.type.fromBuffer(payload, r) : reader.type.fromBuffer(payload);
    }
}
exports.FrameDecoder = FrameDecoder;
/** Splits a Confluent frame; throws with a reason when the bytes are not one. */
function parseFrame(buffer) {
    if (buffer.length < 5)
        throw new Error(`value is ${buffer.length} bytes, shorter than the 5-byte Confluent header`);
    if (buffer[0] !== exports.MAGIC_BYTE)
        throw new Error(`value starts with byte ${buffer[0]}, not the Confluent magic byte 0`);
    return { schemaId: buffer.readUInt32BE(1), payload: buffer.subarray(5) };
}
function frame(schemaId, payload) {
    const header = Buffer.alloc(5);
    header[0] = exports.MAGIC_BYTE;
    header.writeUInt32BE(schemaId, 1);
    return Buffer.concat([header, payload]);
}
//# sourceMappingURL=registry-client.js.map