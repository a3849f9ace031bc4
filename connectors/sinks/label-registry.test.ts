import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { loadSchema } from '../../schemas/catalog';
import { MemoryRegistry } from '../../runtime/registry/memory-registry';
import { FileLabelRegistry, KafkaLabelRegistry } from './label-registry';

// An in-process stand-in for the label topic: one partition, appends delivered back in order.
const log: { records: Array<{ key: string; value: Buffer }>; existing: Array<{ key: string; value: Buffer }> } = { records: [], existing: [] };
jest.mock('../../runtime/kafka/topic-tail', () => ({
  TopicTail: {
    open: async (_kafka: unknown, _create: unknown, onMessage: (partition: number, message: KafkaMessage) => void) => {
      const append = (r: { key: string; value: Buffer }) => {
        log.records.push(r);
        onMessage(0, { key: Buffer.from(r.key), value: r.value, offset: String(log.records.length - 1) } as KafkaMessage);
      };
      for (const r of log.existing) append(r);
      return {
        partitions: 1,
        producer: {
          send: async ({ messages }: { messages: Array<{ key: string; value: Buffer }> }) => {
            const baseOffset = String(log.records.length);
            for (const m of messages) append(m);
            return [{ baseOffset }];
          },
        },
        caughtUp: async () => undefined,
        waitFor: async () => undefined,
        close: async () => undefined,
      };
    },
  },
}));

describe('FileLabelRegistry', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-labels-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('assigns ids in first-appearance order, appends new classes, and keeps them after a restart', async () => {
    const file = path.join(dir, 'labels.log');
    const a = await FileLabelRegistry.open(file);
    expect([...(await a.idsFor(['cat', 'dog']))]).toEqual([
      ['cat', 0],
      ['dog', 1],
    ]);
    expect([...(await a.idsFor(['bird', 'cat']))]).toEqual([
      ['bird', 2],
      ['cat', 0],
    ]);
    await a.close();
    const b = await FileLabelRegistry.open(file);
    expect(b.labels()).toEqual(['cat', 'dog', 'bird']);
    expect([...(await b.idsFor(['dog', 'fish']))]).toEqual([
      ['dog', 1],
      ['fish', 3],
    ]);
  });

  it('two instances on one log agree, even when both add the same class', async () => {
    const file = path.join(dir, 'labels.log');
    const a = await FileLabelRegistry.open(file);
    const b = await FileLabelRegistry.open(file);
    const [ia, ib] = await Promise.all([a.idsFor(['x', 'y']), b.idsFor(['y', 'z'])]);
    expect(ia.get('y')).toBe(ib.get('y'));
    const all = await a.idsFor(['x', 'y', 'z']);
    expect(await b.idsFor(['x', 'y', 'z'])).toEqual(all);
    expect(new Set(all.values()).size).toBe(3);
  });

  it('survives a torn last line', async () => {
    const file = path.join(dir, 'labels.log');
    fs.writeFileSync(file, '"cat"\n"do');
    const r = await FileLabelRegistry.open(file);
    expect([...(await r.idsFor(['dog']))]).toEqual([['dog', 1]]);
    expect((await FileLabelRegistry.open(file)).labels()).toEqual(['cat', 'dog']);
  });
});

describe('KafkaLabelRegistry', () => {
  beforeEach(() => {
    log.records = [];
    log.existing = [];
  });

  it('appends a new category as key = category, value = a Confluent-framed LabelLogEntry', async () => {
    const registry = new MemoryRegistry();
    const r = await KafkaLabelRegistry.open({} as Kafka, 'valor.labels', registry);
    expect([...(await r.idsFor(['red circle', 'blue square']))]).toEqual([
      ['red circle', 0],
      ['blue square', 1],
    ]);
    expect(log.records.map((x) => x.key)).toEqual(['red circle', 'blue square']);
    const id = await registry.register('valor.labels-value', loadSchema('LabelLogEntry'));
    for (const x of log.records) {
      expect(x.value[0]).toBe(0);
      expect(x.value.readUInt32BE(1)).toBe(id);
      expect(await registry.decode(x.value, loadSchema('LabelLogEntry'))).toEqual({ category: x.key });
    }
    await r.close();
  });

  it('takes ids from the keys, so a log written before the values were Avro keeps its ids', async () => {
    log.existing = [
      { key: 'cat', value: Buffer.from('cat') },
      { key: 'dog', value: Buffer.from('dog') },
      { key: 'cat', value: Buffer.from('cat') },
    ];
    const r = await KafkaLabelRegistry.open({} as Kafka, 'valor.labels', new MemoryRegistry());
    expect(r.labels()).toEqual(['cat', 'dog']);
    expect([...(await r.idsFor(['dog', 'bird']))]).toEqual([
      ['dog', 1],
      ['bird', 2],
    ]);
    await r.close();
  });
});
