import { TopologyTestDriver } from '../../test/harness/topology-test-driver';
import { imageQuery } from '../../test/fixtures/records';
import { passthroughTopology, valorTopology } from '../../topology/valor-topology';
import type { DetectionRequest, ImageQuery } from '../../schemas/generated/types';
import { frame } from '../registry/registry-client';

describe('embedded runtime through the test driver', () => {
  it('passes records through with keys and per-key order kept', async () => {
    const driver = new TopologyTestDriver(passthroughTopology({ partitions: 3 }), { chunkSize: 7 });
    const values = Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 5}`, value: { ...imageQuery(i), metadata: { seq: String(i) } } }));
    await driver.pipe('valor.image-queries', values);
    const out = await driver.readAll<ImageQuery>('valor.image-queries-checked');
    expect(out).toHaveLength(200);
    for (let k = 0; k < 5; k++) {
      const seqs = out.filter((r) => r.key === `k${k}`).map((r) => Number(r.value.metadata.seq));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(seqs).toHaveLength(40);
      // one key, one partition
      expect(new Set(out.filter((r) => r.key === `k${k}`).map((r) => r.partition)).size).toBe(1);
    }
    expect(await driver.deadLetters()).toHaveLength(0);
  });

  it('dead-letters undecodable bytes, unknown schema ids and invalid records, and goes on', async () => {
    const driver = new TopologyTestDriver(passthroughTopology({ partitions: 1 }));
    await driver.pipe('valor.image-queries', [imageQuery(1)]);
    await driver.pipeRaw('valor.image-queries', 'bad-bytes', Buffer.from('not avro at all'));
    await driver.pipeRaw('valor.image-queries', 'bad-id', frame(9999, Buffer.from([1, 2, 3])));
    await driver.pipe('valor.image-queries', [imageQuery(2, { question: '   ' })]);
    await driver.pipe('valor.image-queries', [imageQuery(3)]);

    const out = await driver.readAll<ImageQuery>('valor.image-queries-checked');
    expect(out.map((r) => r.value.id)).toEqual(['q-000001', 'q-000003']);
    const dls = await driver.deadLetters();
    expect(dls.map((d) => d.source.offset)).toEqual([1, 2, 3]);
    expect(dls[0]!.errorClass).toBe('DecodeError');
    expect(dls[0]!.reason).toMatch(/Confluent magic byte/);
    expect(dls[0]!.payload!.toString()).toBe('not avro at all');
    expect(dls[1]!.reason).toMatch(/schema id 9999/);
    expect(dls[2]!.errorClass).toBe('ValidationError');
    expect(dls[2]!.reason).toMatch(/question is empty/);
    expect(dls.every((d) => d.node === 'passthrough' && d.source.topic === 'valor.image-queries')).toBe(true);
  });

  it('dead-letters a record written with another topic schema', async () => {
    const driver = new TopologyTestDriver(valorTopology({ partitions: 1 }), { only: ['plan'] });
    // Register and write a DetectionRequest-typed value onto the image-queries topic.
    const wrong = await driver.runtime.serdes.for('valor.detection-requests').encode({
      id: 'd',
      queryId: 'q',
      callIndex: 0,
      image: imageQuery(0).image,
      question: 'q?',
      phrases: ['a'],
      phraseSource: 'EVENT',
      createdAt: 0,
      lineage: imageQuery(0).lineage,
    } satisfies DetectionRequest);
    await driver.pipeRaw('valor.image-queries', 'x', wrong);
    const [dl] = await driver.deadLetters();
    expect(dl!.errorClass).toBe('DecodeError');
    expect(dl!.reason).toMatch(/cannot decode value on 'valor.image-queries' as ImageQuery/);
  });

  it('runs the plan node: phrases from the event and from a program', async () => {
    const driver = new TopologyTestDriver(valorTopology({ partitions: 2 }), { only: ['plan'] }); // detect is tested in processors/detect.test.ts
    const withProgram: ImageQuery = {
      ...imageQuery(2),
      phrases: [],
      program: '<plan>1. find</plan><answer>\nb = gd_detect(img, "red circle, blue square")\nc = gd_detect(img, \'mug\')\nfinal_answer = 1\n</answer>',
    };
    await driver.pipe('valor.image-queries', [imageQuery(1), withProgram]);
    const reqs = (await driver.readAll<DetectionRequest>('valor.detection-requests')).map((r) => r.value);
    expect(reqs).toHaveLength(3);
    const fromProgram = reqs.filter((r) => r.queryId === 'q-000002').sort((a, b) => a.callIndex - b.callIndex);
    expect(fromProgram.map((r) => r.phrases)).toEqual([['red circle', 'blue square'], ['mug']]);
    expect(fromProgram[0]!.phraseSource).toBe('PROGRAM');
    expect(fromProgram[0]!.lineage.parents).toEqual(['q-000002']);
    expect(fromProgram[0]!.lineage.source?.topic).toBe('valor.image-queries');
    expect(reqs.find((r) => r.queryId === 'q-000001')!.phraseSource).toBe('EVENT');
  });
});

describe('node worker on shutdown', () => {
  it('leaves a chunk uncommitted rather than dead-lettering records whose work was aborted', async () => {
    const { NodeWorker } = await import('../node-worker');
    const { SerdeSet } = await import('../serde/topic-serde');
    const { MemoryRegistry } = await import('../registry/memory-registry');
    const { lookupProcessor } = await import('../../processors');
    const { silentLogger } = await import('../../core/logger');
    const topology = passthroughTopology({ partitions: 1 });
    const serdes = new SerdeSet(new MemoryRegistry(), (t) => topology.topics.find((x) => x.name === t)!.type);
    const stop = new AbortController();
    const worker = new NodeWorker(
      topology,
      topology.nodes[0]!,
      lookupProcessor('passthrough')!,
      { concurrency: 1, retry: { maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0, multiplier: 1, jitter: 0 } },
      serdes,
      { logger: silentLogger, signal: stop.signal },
    );
    const value = await serdes.for('valor.image-queries').encode(imageQuery(1, { question: ' ' }));
    const msg = { topic: 'valor.image-queries', partition: 0, offset: '0', key: null, value, timestamp: 0 };
    expect((await worker.process([msg])).deadLettered).toBe(1);
    stop.abort();
    await expect(worker.process([msg])).rejects.toMatchObject({ retriable: true, message: expect.stringMatching(/stopping/) });
  });
});
