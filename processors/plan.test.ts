import { detectCallPhrases, programOf, splitPhrases } from './plan';

describe('phrase extraction as the method does it', () => {
  it('takes the single <answer> block, else the first fenced block, else the text', () => {
    expect(programOf('<plan>x</plan><answer>A</answer>')).toBe('A');
    expect(programOf('<answer>A</answer> and <answer>B</answer>\n```python\nP\n```')).toBe('P\n');
    expect(programOf('just code')).toBe('just code');
  });

  it('finds the first string argument of every gd_detect call', () => {
    const prog = [
      'a = gd_detect(img, "red mug, laptop")',
      "b = gd_detect(image_path, 'chair')",
      'c = gd_detect(img_pth, """tall lamp""")',
      'd = gd_detect(crop(img, (1, 2)), "cat")',
      'e = other("dog")',
    ].join('\n');
    expect(detectCallPhrases(prog)).toEqual(['red mug, laptop', 'chair', 'tall lamp', 'cat']);
  });

  it('splits phrases on commas and trims', () => {
    expect(splitPhrases(' red mug ,laptop,, ')).toEqual(['red mug', 'laptop']);
  });
});

import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { valorTopology } from '../topology/valor-topology';
import { imageQuery } from '../test/fixtures/records';
import type { DetectionRequest } from '../schemas/generated/types';

describe('plan node with a reasoning LLM planner', () => {
  let server: FakeOpenAIServer | undefined;
  afterEach(async () => server?.close());

  const run = async (answer: string, faults: object = {}) => {
    server = new FakeOpenAIServer({ answer: () => answer, ...faults });
    const baseUrl = await server.start();
    const topology = valorTopology({ partitions: 1, nodeConfig: { plan: { planner: { baseUrl }, retry: { initialDelayMs: 1, jitter: 0 } } } });
    const driver = new TopologyTestDriver(topology, { only: ['plan'] });
    await driver.pipe('valor.image-queries', [{ ...imageQuery(1), phrases: [], program: null }]);
    return driver;
  };

  it('asks the planner when the event has neither phrases nor a program', async () => {
    const driver = await run('<plan>1.</plan><answer>a = gd_detect(img, "mug, laptop")\nb = gd_detect(img, "chair")\nfinal_answer = 1</answer>');
    const reqs = (await driver.readAll<DetectionRequest>('valor.detection-requests')).map((r) => r.value);
    expect(reqs.map((r) => r.phrases)).toEqual([['mug', 'laptop'], ['chair']]);
    expect(reqs[0]!.phraseSource).toBe('PLANNER');
    expect(reqs[0]!.lineage.versions['planner.model']).toBe('Qwen/Qwen3-8B');
    expect(reqs[0]!.lineage.versions['planner.promptHash']).toMatch(/^[0-9a-f]{16}$/);
  });

  it('retries provider errors and then succeeds', async () => {
    const driver = await run('<answer>gd_detect(img, "mug")</answer>', { failFirst: 2 });
    expect(await driver.readAll('valor.detection-requests')).toHaveLength(1);
    expect(server!.requests).toHaveLength(3);
  });

  it('dead-letters a query whose planned program detects nothing', async () => {
    const driver = await run('<answer>final_answer = "yes"</answer>');
    const [dl] = await driver.deadLetters();
    expect(dl!.reason).toMatch(/planner's program has no gd_detect call/);
    expect(await driver.readAll('valor.detection-requests')).toHaveLength(0);
  });
});
