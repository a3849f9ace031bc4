import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { TimeoutMiddleware } from 'mappersmith/middleware/timeout';
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
  private readonly decoder = new FrameDecoder(async (id) => (await this.answered(`schema ${id}`, () => this.client.getSchema(id))) as unknown as avro.Type);

  constructor(
    readonly url: string,
    auth?: { username: string; password: string },
    /** Per attempt. The client has no timeout of its own: a registry that never answers would hang a node or a writer for good. */
    private readonly timeoutMs = 10_000,
    /** Attempts of a call that timed out; every call here is idempotent (a lookup, or registering the same schema). */
    private readonly attempts = 3,
  ) {
    this.client = new SchemaRegistry({ host: url.replace(/\/$/, ''), auth, middlewares: [TimeoutMiddleware(timeoutMs)] });
  }

  async register(subject: string, schema: LoadedSchema): Promise<number> {
    // Set the subject's compatibility explicitly first: Apicurio answers GET /config/{subject}
    // with the global default even for unknown subjects, so the client's own check would
    // otherwise compare against whatever the server-wide default happens to be.
    await this.putCompatibility(subject, 'BACKWARD');
    const { id } = await this.answered(`registering '${subject}'`, () =>
      this.client.register({ type: SchemaType.AVRO, schema: schema.json }, { subject, compatibility: COMPATIBILITY.BACKWARD }),
    );
    return id;
  }

  async putCompatibility(subject: string, level: string): Promise<void> {
    const res = await this.answered(`setting compatibility of '${subject}'`, () =>
      fetch(`${this.url.replace(/\/$/, '')}/config/${encodeURIComponent(subject)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ compatibility: level }),
        signal: AbortSignal.timeout(this.timeoutMs),
      }),
    );
    if (!res.ok) throw new Error(`registry refused compatibility ${level} for '${subject}': HTTP ${res.status} ${await res.text()}`);
  }

  encode(schemaId: number, value: unknown): Promise<Buffer> {
    return this.answered(`schema ${schemaId}`, () => this.client.encode(schemaId, value));
  }

  decode(buffer: Buffer, reader: LoadedSchema): Promise<unknown> {
    return this.decoder.decode(buffer, reader);
  }

  /**
   * `call`, tried again when it times out (a request the registry lost or sat on usually
   * goes through on a new one), then failed with an error that names the registry and the
   * call and carries ETIMEDOUT, so callers retry it as a network failure: a record is not
   * dead-lettered as undecodable because the registry was slow. The client reports its
   * timeout as an HTTP 400 "Timeout (N ms)", fetch as a TimeoutError.
   */
  private async answered<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const e = err as Error;
        if (e.name !== 'TimeoutError' && !/\bTimeout \(\d+ms\)/.test(e.message ?? '')) throw err;
        if (attempt < this.attempts) continue;
        const message = `schema registry ${this.url} did not answer within ${this.timeoutMs} ms, ${attempt} attempts (${what})`;
        throw Object.assign(new Error(message, { cause: err }), { code: 'ETIMEDOUT' });
      }
    }
  }
}
