import * as avro from 'avsc';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { DecodeError, ValidationError } from '../../core/errors';
import { loadSchema } from '../../schemas/catalog';
import type { ImageQuery } from '../../schemas/generated/types';
import { imageQuery } from '../../test/fixtures/records';
import { IncompatibleSchemaError, MemoryRegistry } from '../registry/memory-registry';
import { frame, parseFrame } from '../registry/registry-client';
import { TopicSerde } from './topic-serde';

describe('TopicSerde over the memory registry', () => {
  it('round-trips a record in the Confluent wire format', async () => {
    const serde = new TopicSerde<ImageQuery>('t', 'ImageQuery', new MemoryRegistry());
    const bytes = await serde.encode(imageQuery(1));
    expect(bytes[0]).toBe(0);
    expect(bytes.readUInt32BE(1)).toBe(await serde.id());
    expect(await serde.decode(bytes)).toEqual(imageQuery(1));
  });

  it('frames exactly as the Confluent client library reads them', async () => {
    // The library's own decoder (given a pre-cached schema) must accept our frames.
    const registry = new MemoryRegistry();
    const serde = new TopicSerde<ImageQuery>('t', 'ImageQuery', registry);
    const bytes = await serde.encode(imageQuery(2));
    const lib = new SchemaRegistry({ host: 'http://127.0.0.1:1' });
    lib.cache.setSchema(await serde.id(), 'AVRO' as never, avro.Type.forSchema(JSON.parse(loadSchema('ImageQuery').json)) as never);
    expect(((await lib.decode(bytes)) as ImageQuery).id).toBe('q-000002');
    const theirs = await lib.encode(await serde.id(), imageQuery(3));
    expect(theirs.equals(bytes) || (await serde.decode(theirs)).id === 'q-000003').toBe(true);
  });

  it('names invalid fields on encode', async () => {
    const serde = new TopicSerde<ImageQuery>('t', 'ImageQuery', new MemoryRegistry());
    const bad = { ...imageQuery(1), question: 42, image: { ...imageQuery(1).image, width: 'wide' } } as unknown as ImageQuery;
    await expect(serde.encode(bad)).rejects.toThrow(ValidationError);
    await expect(serde.encode(bad)).rejects.toThrow(/question.*image\.width|image\.width.*question/);
  });

  it('gives a reason for short, unframed and unknown-id values', async () => {
    const serde = new TopicSerde<ImageQuery>('t', 'ImageQuery', new MemoryRegistry());
    await expect(serde.decode(Buffer.from([0, 0]))).rejects.toThrow(/shorter than the 5-byte/);
    await expect(serde.decode(Buffer.from('hello world'))).rejects.toThrow(/magic byte/);
    await expect(serde.decode(frame(77, Buffer.alloc(3)))).rejects.toThrow(DecodeError);
    await expect(serde.decode(null)).rejects.toThrow(/tombstone/);
  });

  it('enforces BACKWARD compatibility like a real registry', async () => {
    const registry = new MemoryRegistry();
    const v1 = loadSchema('ImageQuery');
    const id1 = await registry.register('s-value', v1);
    const json2 = JSON.parse(v1.json);
    json2.fields.push({ name: 'extra', type: 'string', default: 'x' });
    const v2 = { ...v1, json: JSON.stringify(json2), type: avro.Type.forSchema(json2) };
    const id2 = await registry.register('s-value', v2);
    expect(id2).not.toBe(id1);
    const old = await registry.encode(id1, imageQuery(5));
    expect(((await registry.decode(old, v2)) as { extra: string }).extra).toBe('x');
    const json3 = JSON.parse(v1.json);
    json3.fields.push({ name: 'required', type: 'long' });
    await expect(registry.register('s-value', { ...v1, json: JSON.stringify(json3), type: avro.Type.forSchema(json3) })).rejects.toThrow(
      IncompatibleSchemaError,
    );
    expect(parseFrame(old).schemaId).toBe(id1);
  });
});
