import type { LoadedSchema } from '../../schemas/catalog';
import type * as avro from 'avsc';

/**
 * What the serdes need from a schema registry. Two implementations frame values the same
 * way (Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary):
 * ConfluentRegistry talks to any Confluent-compatible registry over HTTP; MemoryRegistry
 * serves the embedded runtime and unit tests with no server.
 */
export interface RegistryClient {
  /** Registers `schema` under `subject` with BACKWARD compatibility; returns its id. */
  register(subject: string, schema: LoadedSchema): Promise<number>;
  encode(schemaId: number, value: unknown): Promise<Buffer>;
  /** Decodes with the writer schema named by the frame, resolved into `reader`. */
  decode(buffer: Buffer, reader: LoadedSchema): Promise<unknown>;
}

export const MAGIC_BYTE = 0;

/**
 * Decodes a frame with the writer schema it names, resolved into the reader schema.
 * Resolvers are cached per (writer id, reader): building one parses both schemas, which
 * costs far more than decoding a record.
 */
export class FrameDecoder {
  private readonly resolvers = new Map<string, Promise<avro.Resolver | null>>();
  constructor(private readonly writerType: (schemaId: number) => Promise<avro.Type>) {}

  async decode(buffer: Buffer, reader: LoadedSchema): Promise<unknown> {
    const { schemaId, payload } = parseFrame(buffer);
    const key = `${schemaId}\u0000${reader.name}\u0000${reader.json.length}`;
    let resolver = this.resolvers.get(key);
    if (!resolver) {
      resolver = this.writerType(schemaId).then((writer) => (writer.equals(reader.type) ? null : reader.type.createResolver(writer)));
      resolver.catch(() => this.resolvers.delete(key)); // unknown id now may exist later
      this.resolvers.set(key, resolver);
    }
    const r = await resolver;
    return r ? reader.type.fromBuffer(payload, r) : reader.type.fromBuffer(payload);
  }
}

/** Splits a Confluent frame; throws with a reason when the bytes are not one. */
export function parseFrame(buffer: Buffer): { schemaId: number; payload: Buffer } {
  if (buffer.length < 5) throw new Error(`value is ${buffer.length} bytes, shorter than the 5-byte Confluent header`);
  if (buffer[0] !== MAGIC_BYTE) throw new Error(`value starts with byte ${buffer[0]}, not the Confluent magic byte 0`);
  return { schemaId: buffer.readUInt32BE(1), payload: buffer.subarray(5) };
}

export function frame(schemaId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = MAGIC_BYTE;
  header.writeUInt32BE(schemaId, 1);
  return Buffer.concat([header, payload]);
}
