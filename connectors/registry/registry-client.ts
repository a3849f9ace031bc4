import type { LoadedSchema } from '../../schemas/catalog';

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
