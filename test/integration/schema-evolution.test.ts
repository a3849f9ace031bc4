import { ConfluentRegistry } from '../../runtime/registry/confluent-registry';
import { TopicSerde } from '../../runtime/serde/topic-serde';
import { loadSchema, LoadedSchema } from '../../schemas/catalog';
import * as avro from 'avsc';
import type { ImageQuery } from '../../schemas/generated/types';
import { imageQuery } from '../fixtures/records';
import { runId, testRegistry } from './services';

jest.setTimeout(60_000);

function variant(base: LoadedSchema, edit: (s: any) => void): LoadedSchema {
  const json = JSON.parse(base.json);
  edit(json);
  return { ...base, json: JSON.stringify(json), type: avro.Type.forSchema(json) };
}

describe('schema evolution on the real registry', () => {
  const registry: ConfluentRegistry = testRegistry();

  it('accepts a BACKWARD-compatible v2 and still decodes v1 records', async () => {
    const topic = `it.${runId()}.queries`;
    const v1 = loadSchema('ImageQuery');
    const v1Serde = new TopicSerde<ImageQuery>(topic, 'ImageQuery', registry);
    const oldBytes = await v1Serde.encode(imageQuery(7));
    const v2 = variant(v1, (s) => s.fields.push({ name: 'priority', type: 'int', default: 5 }));
    const v2Id = await registry.register(`${topic}-value`, v2);
    expect(v2Id).not.toBe(await v1Serde.id());

    // A v2 reader reads v1 bytes (the new field takes its default)...
    const asV2 = (await registry.decode(oldBytes, v2)) as ImageQuery & { priority: number };
    expect(asV2.priority).toBe(5);
    expect(asV2.question).toBe(imageQuery(7).question);
    // ...and today's v1 reader still reads what a v2 writer wrote.
    const newBytes = await registry.encode(v2Id, { ...imageQuery(8), priority: 9 });
    expect((await v1Serde.decode(newBytes)).id).toBe('q-000008');
  });

  it('refuses an incompatible change with a clear error', async () => {
    const topic = `it.${runId()}.queries`;
    const v1 = loadSchema('ImageQuery');
    await registry.register(`${topic}-value`, v1);
    // A new required field without a default cannot read old records: not BACKWARD.
    const bad = variant(v1, (s) => s.fields.push({ name: 'mandatory', type: 'string' }));
    await expect(registry.register(`${topic}-value`, bad)).rejects.toThrow(/incompatible|compatib/i);
  });
});
