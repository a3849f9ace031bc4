import * as avro from 'avsc';
import type { LoadedSchema } from '../../schemas/catalog';
import { frame, FrameDecoder, RegistryClient } from './registry-client';

export class IncompatibleSchemaError extends Error {
  override name = 'IncompatibleSchemaError';
}

/**
 * An in-process registry with the same ids-per-schema, framing and BACKWARD rule as a
 * real one, for the embedded runtime and tests that need no server.
 */
export class MemoryRegistry implements RegistryClient {
  private readonly byId = new Map<number, avro.Type>();
  private readonly subjects = new Map<string, Array<{ id: number; json: string }>>();
  private readonly idsByText = new Map<string, number>();
  private nextId = 1;

  async register(subject: string, schema: LoadedSchema): Promise<number> {
    const versions = this.subjects.get(subject) ?? [];
    const existing = versions.find((v) => v.json === schema.json);
    if (existing) return existing.id;
    const latest = versions[versions.length - 1];
    if (latest) {
      // BACKWARD: the new schema must read data written with the latest one.
      try {
        schema.type.createResolver(this.byId.get(latest.id)!);
      } catch (err) {
        throw new IncompatibleSchemaError(
          `schema for subject '${subject}' is not BACKWARD compatible with version ${versions.length}: ${(err as Error).message}`,
        );
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

  async encode(schemaId: number, value: unknown): Promise<Buffer> {
    const type = this.byId.get(schemaId);
    if (!type) throw new Error(`schema id ${schemaId} is not registered`);
    return frame(schemaId, type.toBuffer(value));
  }

  private readonly decoder = new FrameDecoder(async (id) => {
    const writer = this.byId.get(id);
    if (!writer) throw new Error(`schema id ${id} is not registered`);
    return writer;
  });

  decode(buffer: Buffer, reader: LoadedSchema): Promise<unknown> {
    return this.decoder.decode(buffer, reader);
  }
}
