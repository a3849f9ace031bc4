import { invalidPaths, loadSchema, LoadedSchema, RecordTypeName } from '../../schemas/catalog';
import { DecodeError, ValidationError } from '../../core/errors';
import type { RegistryClient } from '../registry/registry-client';
import { topicByName, type Topology } from '../../topology/topology';

/** Subject naming: TopicNameStrategy, `<topic>-value`. */
export const valueSubject = (topic: string): string => `${topic}-value`;

/**
 * Avro value serde for one topic. Registers the topic's schema on first use, encodes
 * after validating (errors name the bad fields), and decodes any writer version that
 * resolves into our reader schema; anything else is a DecodeError with the reason.
 */
export class TopicSerde<T = unknown> {
  readonly schema: LoadedSchema;
  private schemaId?: Promise<number>;

  constructor(
    readonly topic: string,
    readonly typeName: RecordTypeName,
    private readonly registry: RegistryClient,
  ) {
    this.schema = loadSchema(typeName);
  }

  id(): Promise<number> {
    if (!this.schemaId) {
      this.schemaId = this.registry.register(valueSubject(this.topic), this.schema);
      this.schemaId.catch(() => (this.schemaId = undefined)); // let a later call retry
    }
    return this.schemaId;
  }

  async encode(value: T): Promise<Buffer> {
    const bad = invalidPaths(this.typeName, value);
    if (bad.length > 0) {
      throw new ValidationError(`${this.typeName} for topic '${this.topic}' has invalid field(s): ${bad.join(', ')}`);
    }
    return this.registry.encode(await this.id(), value);
  }

  async decode(buffer: Buffer | null): Promise<T> {
    if (!buffer) throw new DecodeError(`empty value on '${this.topic}' (tombstone) where a ${this.typeName} was expected`);
    try {
      return (await this.registry.decode(buffer, this.schema)) as T;
    } catch (err) {
      const retriable = isNetworkError(err);
      throw new DecodeError(`cannot decode value on '${this.topic}' as ${this.typeName}: ${(err as Error).message ?? String(err)}`, { cause: err, retriable });
    }
  }
}

function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: string; cause?: { code?: string } })?.cause?.code ?? (err as { code?: string })?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT';
}

/** One serde per topic, shared by every node of a process. */
export class SerdeSet {
  private readonly serdes = new Map<string, TopicSerde>();
  constructor(
    readonly registry: RegistryClient,
    private readonly typeOf: (topic: string) => RecordTypeName,
  ) {}

  for<T = unknown>(topic: string): TopicSerde<T> {
    let s = this.serdes.get(topic);
    if (!s) {
      s = new TopicSerde(topic, this.typeOf(topic), this.registry);
      this.serdes.set(topic, s);
    }
    return s as TopicSerde<T>;
  }
}

/** The serdes of a topology's topics: each topic's record type comes from the topology. */
export function serdesFor(topology: Topology, registry: RegistryClient): SerdeSet {
  return new SerdeSet(registry, (t) => topicByName(topology, t).type);
}
