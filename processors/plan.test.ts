import { firstValueFrom, from, toArray } from 'rxjs';
import { testProcessorContext } from '../test/harness/processor-context';
import { splitPhrases } from '../models/detector/caption';
import { detectCallPhrases, plan, planConfig, programOf } from './plan';

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

import { TopologyError } from '../core/errors';
import { providerTotals } from '../models/llm/shared-providers';
import { validateTopology } from '../topology/validate';
import { lookupProcessor } from './index';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { FakeOpenAIOptions, FakeOpenAIServer } from '../test/fakes/fake-openai-server';
import { valorTopology } from '../topology/valor-topology';
import { imageQuery } from '../test/fixtures/records';
import type { DetectionRequest, ImageQuery } from '../schemas/generated/types';

describe('plan node with a reasoning LLM planner', () => {
  let server: FakeOpenAIServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const query = (i: number, extra: Partial<ImageQuery> = {}): ImageQuery => ({ ...imageQuery(i), phrases: [], program: null, ...extra });

  /**
   * The plan node alone, on the embedded runtime, with the fake LLM as its planner (or
   * none): 3 attempts per planner call in the provider layer, 2 per record in the node.
   */
  const run = async (answer: string | null, faults: Partial<FakeOpenAIOptions> = {}, queries = [query(1)], limits: object = {}) => {
    let planner: object | undefined;
    if (answer !== null) {
      server = new FakeOpenAIServer({ answer: () => answer, ...faults });
      planner = {
        provider: { kind: 'openai-compatible', baseURL: await server.start() },
        limits: { maxAttempts: 3, backoff: { initialDelayMs: 1, maxDelayMs: 1, jitter: 0 }, breaker: { failureThreshold: 100 }, ...limits },
      };
    }
    const topology = valorTopology({ partitions: 1, nodeConfig: { plan: { planner, retry: { maxAttempts: 2, initialDelayMs: 1, jitter: 0 } } } });
    const driver = new TopologyTestDriver(topology, { only: ['plan'] });
    await driver.pipe('valor.image-queries', queries);
    return driver;
  };

  it('asks the planner when the event has neither phrases nor a program', async () => {
    const driver = await run(
      '<plan>1. find them</plan><answer>a = gd_detect(img_pth, "mug, laptop")\nb = gd_detect(img_pth, "chair")\nfinal_answer = 1</answer>',
    );
    const reqs = (await driver.readAll<DetectionRequest>('valor.detection-requests')).map((r) => r.value);
    expect(reqs.map((r) => [r.callIndex, r.phrases])).toEqual([
      [0, ['mug', 'laptop']],
      [1, ['chair']],
    ]);
    expect(reqs.every((r) => r.phraseSource === 'PLANNER' && r.queryId === 'q-000001')).toBe(true);
    expect(reqs[0]!.lineage.versions['planner.provider']).toBe('openai-compatible');
    expect(reqs[0]!.lineage.versions['planner.model']).toBe('Qwen/Qwen3-8B');
    expect(reqs[0]!.lineage.versions['planner.promptHash']).toMatch(/^[0-9a-f]{16}$/);
    // One LLM call per query, carrying the question and the method's sampling settings.
    expect(server!.requests).toHaveLength(1);
    const body = server!.requests[0]!.body as { messages: Array<{ role: string; content: string }> };
    expect(body).toMatchObject({ temperature: 0.7, top_p: 0.8, top_k: 20, max_tokens: 2048 });
    expect(body.messages[1]).toEqual({ role: 'user', content: imageQuery(1).question });
    expect(await driver.deadLetters()).toEqual([]);
  });

  it('does not ask the planner when the event has phrases or a program', async () => {
    const driver = await run('<answer>gd_detect(img_pth, "never")</answer>', {}, [
      query(1, { phrases: ['red circle'] }),
      query(2, { program: '<answer>gd_detect(img_pth, "blue square")</answer>' }),
    ]);
    const reqs = (await driver.readAll<DetectionRequest>('valor.detection-requests')).map((r) => r.value);
    expect(reqs.map((r) => [r.phraseSource, r.phrases])).toEqual([
      ['EVENT', ['red circle']],
      ['PROGRAM', ['blue square']],
    ]);
    expect(reqs.every((r) => r.lineage.versions['planner.model'] === undefined)).toBe(true);
    expect(server!.requests).toHaveLength(0);
  });

  it('retries provider errors in the provider layer and then succeeds', async () => {
    const driver = await run('<answer>gd_detect(img_pth, "mug")</answer>', { failFirst: 2 });
    const reqs = (await driver.readAll<DetectionRequest>('valor.detection-requests')).map((r) => r.value);
    expect(reqs.map((r) => r.phrases)).toEqual([['mug']]);
    expect(server!.requests).toHaveLength(3);
    expect(await driver.deadLetters()).toEqual([]);
    // The planner's calls are counted like the verifier's and the judges'.
    const totals = providerTotals(driver.runtime.resources).find((t) => t.provider === 'openai-compatible' && t.model === 'Qwen/Qwen3-8B');
    expect(totals).toMatchObject({ calls: 1, retries: 2, inputTokens: expect.any(Number) });
  });

  it('dead-letters a query whose planned program detects nothing, without retrying', async () => {
    const driver = await run('<plan>1. guess</plan><answer>final_answer = "yes"</answer>');
    const [dl, ...more] = await driver.deadLetters();
    expect(more).toEqual([]);
    expect(dl!.reason).toMatch(/image query 'q-000001': the planner's program has no gd_detect call/);
    expect(dl).toMatchObject({ node: 'plan', errorClass: 'ProcessingError', retriable: false, attempts: 1 });
    expect(server!.requests).toHaveLength(1);
    expect(await driver.readAll('valor.detection-requests')).toHaveLength(0);
  });

  it('dead-letters after the provider and node retries when the planner keeps failing', async () => {
    const driver = await run('<answer>gd_detect(img_pth, "mug")</answer>', { failFirst: 100 });
    const [dl] = await driver.deadLetters();
    expect(dl).toMatchObject({ retriable: true, attempts: 2, errorClass: 'ProviderRetriesExhausted' });
    expect(dl!.reason).toMatch(/openai-compatible\/Qwen\/Qwen3-8B: gave up after 3 attempts.*HTTP 500/);
    expect(server!.requests).toHaveLength(6);
  });

  it('waits out an outage behind the circuit breaker instead of dead-lettering', async () => {
    const breaker = { failureThreshold: 2, cooldownMs: 20, maxCooldownMs: 40 };
    const driver = await run('<answer>gd_detect(img_pth, "mug")</answer>', { failFirst: 6 }, [query(1)], { breaker });
    expect((await driver.readAll<DetectionRequest>('valor.detection-requests')).map((r) => r.value.phrases)).toEqual([['mug']]);
    expect(await driver.deadLetters()).toEqual([]);
    expect(server!.requests).toHaveLength(7);
  });

  it('dead-letters an empty answer at once (a client error of the provider)', async () => {
    const driver = await run('<think>still thinking about gd_detect(img_pth, "mug")');
    const [dl] = await driver.deadLetters();
    expect(dl).toMatchObject({ retriable: false, attempts: 1 });
    expect(dl!.reason).toMatch(/answer has no text: finish_reason=stop/);
    expect(server!.requests).toHaveLength(1);
  });

  it('without a planner, says how to configure one', async () => {
    const driver = await run(null);
    const [dl] = await driver.deadLetters();
    expect(dl!.reason).toMatch(/image query 'q-000001' has neither phrases nor a program.*nodes\.plan\.planner\.provider/);
  });

  it('refuses the planner config of before the provider layer, naming the new fields', () => {
    const old = { baseUrl: 'http://127.0.0.1:1/v1', model: 'Qwen/Qwen3-8B', maxTokens: 2048, temperature: 0.7 };
    const topology = valorTopology({ partitions: 1, nodeConfig: { plan: { planner: old } } });
    let err: unknown;
    try {
      validateTopology(topology, lookupProcessor);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TopologyError);
    expect((err as TopologyError).problems).toEqual([
      "node 'plan' config.planner.provider.baseURL: Invalid input: expected string, received undefined",
      "node 'plan' config.planner.baseUrl: planner.baseUrl was renamed to planner.provider.baseURL",
      "node 'plan' config.planner.maxTokens: planner.maxTokens was renamed to planner.maxOutputTokens",
      "node 'plan' config.planner.model: planner.model was renamed to planner.provider.model",
    ]);
  });
});

describe('plan node text limits', () => {
  const driverFor = (limits?: object) =>
    new TopologyTestDriver(valorTopology({ partitions: 1, nodeConfig: { plan: limits ? { limits } : {} } }), { only: ['plan'] });

  it('dead-letters a query with a NUL or an overlong question, naming field, position and limit, and passes the rest', async () => {
    const driver = driverFor({ maxQuestionChars: 300 });
    const q = (i: number, extra: Partial<ImageQuery>): ImageQuery => ({ ...imageQuery(i), ...extra });
    await driver.pipe('valor.image-queries', [
      q(1, { question: 'Is the red circle\u0000 left?' }),
      q(2, { question: 'x'.repeat(301) }),
      q(3, { phrases: ['red circle', 'blue\u0000square'] }),
      q(4, { question: 'x'.repeat(300) }),
    ]);
    const dls = await driver.deadLetters();
    expect(dls.map((d) => d.reason)).toEqual([
      "image query 'q-000001': question: NUL character at position 17",
      "image query 'q-000002': question: 301 characters, more than the limit of 300 (nodes.plan.limits.maxQuestionChars)",
      "image query 'q-000003': phrases[1]: NUL character at position 4",
    ]);
    expect(dls.map((d) => [d.node, d.errorClass, d.retriable, d.attempts, d.source.topic, Number(d.source.offset)])).toEqual([
      ['plan', 'ValidationError', false, 1, 'valor.image-queries', 0],
      ['plan', 'ValidationError', false, 1, 'valor.image-queries', 1],
      ['plan', 'ValidationError', false, 1, 'valor.image-queries', 2],
    ]);
    const reqs = await driver.readAll<DetectionRequest>('valor.detection-requests');
    expect(reqs.map((r) => r.value.queryId)).toEqual(['q-000004']);
    await driver.close();
  });

  it('refuses an unpaired surrogate in the question, a phrase or the program', async () => {
    // Straight into the node: Avro encoding (the driver's and Kafka's) would already have
    // replaced a lone surrogate, so only an in-process value can still carry one.
    const ctx = testProcessorContext('plan');
    const op = plan.create(planConfig.parse({}), ctx);
    const values: ImageQuery[] = [
      { ...imageQuery(1), question: 'Is it \ud800 red?' },
      { ...imageQuery(2), phrases: ['cat', 'do\udc00g'] },
      { ...imageQuery(3), phrases: [], program: 'gd_detect(img, "mug")\ud83d' },
      { ...imageQuery(4), question: 'Is the 🐶 left of the cat?', phrases: ['🐶'] },
    ];
    const recs = values.map((value, i) => ({ key: value.id, value, origin: { topic: 't', partition: 0, offset: String(i) }, timestamp: 0 }));
    const outcomes = await firstValueFrom(from(recs).pipe(op, toArray()));
    const failure = (offset: string) => String(outcomes.find((o) => o.input.origin.offset === offset)!.failure?.error);
    expect(failure('0')).toBe("ValidationError: image query 'q-000001': question: unpaired surrogate U+D800 at position 6");
    expect(failure('1')).toBe("ValidationError: image query 'q-000002': phrases[1]: unpaired surrogate U+DC00 at position 2");
    expect(failure('2')).toBe("ValidationError: image query 'q-000003': program: unpaired surrogate U+D83D at position 21");
    const ok = outcomes.find((o) => o.input.origin.offset === '3')!;
    expect(ok.failure).toBeUndefined();
    expect((ok.outputs[0]!.value as DetectionRequest).phrases).toEqual(['🐶']);
  });

  it('has default limits and refuses unknown limit fields', () => {
    expect(planConfig.parse({}).limits).toEqual({ maxQuestionChars: 4000, maxPhraseChars: 256, maxPhrases: 64, maxProgramChars: 32768 });
    expect(planConfig.safeParse({ limits: { maxQuestionChar: 10 } }).success).toBe(false);
  });
});
