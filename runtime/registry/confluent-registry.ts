import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { LoadedSchema } from '../../schemas/catalog';
import type * as avro from 'avsc';
import { FrameDecoder, RegistryClient } from './registry-client';

/**
 * Any Confluent-compatible registry (Confluent Schema Registry, Apicurio's
 * /apis/ccompat/v7, Karapace) through @kafkajs/confluent-schema-registry.
 */
export class ConfluentRegistry implements RegistryClient {
  readonly client: SchemaRegistry;
  // The client caches writer schemas by id; we add cached resolvers on top, since its own
  // decode() rebuilds the reader schema and resolver for every record.
  private readonly decoder = new FrameDecoder(async (id) => (await this.client.getSchema(id)) as unknown as avro.Type);

  constructor(
    readonly url: string,
    auth?: { username: string; password: string },
  ) {
    this.client = new SchemaRegistry({ host: url.replace(/\/$/, ''), auth });
  }

  async register(subject: string, schema: LoadedSchema): Promise<number> {
    // Set the subject's compatibility explicitly first: Apicurio answers GET /config/{subject}
    // with the global default even for unknown subjects, so the client's own check would
    // otherwise compare against whatever the server-wide default happens to be.
    await this.putCompatibility(subject, 'BACKWARD');
    const { id } = await this.client.register({ type: SchemaType.AVRO, schema: schema.json }, { subject, compatibility: COMPATIBILITY.BACKWARD });
    return id;
  }

  async putCompatibility(subject: string, level: string): Promise<void> {
    const res = await fetch(`${this.url.replace(/\/$/, '')}/config/${encodeURIComponent(subject)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: level }),
    });
    if (!res.ok) throw new Error(`registry refused compatibility ${level} for '${subject}': HTTP ${res.status} ${await res.text()}`);
  }

  encode(schemaId: number, value: unknown): Promise<Buffer> {
    return this.client.encode(schemaId, value);
  }

  decode(buffer: Buffer, reader: LoadedSchema): Promise<unknown> {
    return this.decoder.decode(buffer, reader);
  }
}
