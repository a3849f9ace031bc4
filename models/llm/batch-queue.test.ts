// The batch queue against the fake Batch API (real SDK, real HTTP on 127.0.0.1): requests go
// out once, results come back priced at the Batch rate, expired requests get a failure
// result to be asked for again, and a submission left half-done by a crash is found by its
// metadata (or forgotten when it was never created) without submitting twice.
import { silentLogger } from '../../core/logger';
import { MemoryStore } from '../../core/store';
import type { BatchResult, BatchSubmission } from '../../schemas/generated/types';
import { FakeOpenAIServer, FakeOpenAIOptions } from '../../test/fakes/fake-openai-server';
import { BatchQueue } from './batch-queue';
import { OpenAIBatchApi } from './openai-batch';
import { withDefaultPrices } from './pricing';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const body = (i: number) => ({ model: 'gpt-5-mini', input: [{ role: 'user', content: [{ type: 'input_text', text: `question ${i}` }] }], store: false });

describe('BatchQueue', () => {
  let server: FakeOpenAIServer | undefined;
  const queues: BatchQueue[] = [];
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.close();
    await server?.close();
    server = undefined;
  });

  async function setup(
    opts: Partial<FakeOpenAIOptions> = {},
    stores = { submissions: new MemoryStore<BatchSubmission>('batches'), results: new MemoryStore<BatchResult>('r') },
  ) {
    server = new FakeOpenAIServer({ oracle: () => '{"keep":true,"reason":"ok"}', batch: { completeAfterMs: 100 }, ...opts });
    const api = new OpenAIBatchApi('sk-batch', await server.start());
    return { q: await startQueue(api, stores), ...stores, api };
  }

  /** A started queue with small limits (3 requests per file, quick flushes and polls). */
  async function startQueue(api: OpenAIBatchApi, stores: { submissions: MemoryStore<BatchSubmission>; results: MemoryStore<BatchResult> }) {
    const q = new BatchQueue({
      api,
      model: 'gpt-5-mini',
      prices: withDefaultPrices(),
      ...stores,
      maxRequests: 3,
      maxBytes: 1e6,
      flushAfterMs: 20,
      pollEveryMs: 50,
      submitGraceMs: 0,
      logger: silentLogger,
    });
    queues.push(q);
    await q.start();
    return q;
  }

  const until = async (cond: () => boolean | Promise<boolean>, what: string) => {
    for (const t0 = Date.now(); !(await cond()); await sleep(20)) if (Date.now() - t0 > 20_000) throw new Error(`not within 20 s: ${what}`);
  };

  it('submits each request once, in files of maxRequests, and stores results at the Batch price', async () => {
    const { q, results } = await setup();
    for (let i = 0; i < 5; i++) q.request(`k${i}`, body(i));
    q.request('k0', body(0)); // queued already: not again
    await until(async () => (await Promise.all([0, 1, 2, 3, 4].map((i) => results.get(`k${i}`)))).every((r) => r?.raw), 'five results');
    expect(server!.batches.counters.created).toBe(2);
    expect([...server!.batchSubmissions.values()]).toEqual([1, 1, 1, 1, 1]);
    const r = (await results.get('k3'))!;
    expect(r.raw).toBe('{"keep":true,"reason":"ok"}');
    expect(r.costUsd).toBeCloseTo(((r.inputTokens - r.cachedInputTokens) * 0.25 + r.cachedInputTokens * 0.025 + r.outputTokens * 2) / 2 / 1e6, 12);
    expect(q.isPending('k3')).toBe(false);
    q.request('k3', body(3)); // answered: a caller would not ask, but a stray ask queues a new request
    expect(q.stats.requestsSubmitted).toBe(5);
  });

  it('gives expired requests a failure result with the attempt, to be asked for again', async () => {
    const { q, results } = await setup({ batch: { completeAfterMs: 100, expireAfterCompleting: 1 } });
    for (let i = 0; i < 3; i++) q.request(`e${i}`, body(i));
    await until(async () => (await Promise.all([0, 1, 2].map((i) => results.get(`e${i}`)))).every(Boolean), 'three outcomes');
    const all = await Promise.all([0, 1, 2].map((i) => results.get(`e${i}`)));
    expect(all.filter((r) => r!.raw)).toHaveLength(1);
    const failed = all.filter((r) => !r!.raw);
    expect(failed).toHaveLength(2);
    expect(failed[0]!.error).toMatch(/expired: batch_expired/);
    expect(failed[0]!.attempts).toBe(1);
    const again = [0, 1, 2].find((i) => !all[i]!.raw)!;
    q.request(`e${again}`, body(again), 2);
    await until(async () => Boolean((await results.get(`e${again}`))?.raw), 'the retry answered');
    expect((await results.get(`e${again}`))!.attempts).toBe(2);
  });

  it('recovers a submission a crash left SUBMITTING: found by metadata, or forgotten if never created', async () => {
    const stores = { submissions: new MemoryStore<BatchSubmission>('batches'), results: new MemoryStore<BatchResult>('r') };
    server = new FakeOpenAIServer({ oracle: () => '{"ok":true}', batch: { completeAfterMs: 100 } });
    const baseURL = await server.start();
    const api = new OpenAIBatchApi('sk-batch', baseURL);
    // A process created this batch and died before recording its id.
    const created = await api.submit(`${JSON.stringify({ custom_id: 'c1', method: 'POST', url: '/v1/responses', body: body(1) })}\n`, 'local-1');
    const base = { batchId: null, attempt: 1, owner: 'dead-process', updatedAt: 0, status: null, state: 'SUBMITTING' as const };
    await stores.submissions.put('local-1', { ...base, localId: 'local-1', customIds: ['c1'] });
    // And this one died before creating its batch.
    await stores.submissions.put('local-2', { ...base, localId: 'local-2', customIds: ['c2'] });
    const q = await startQueue(api, stores);
    expect((await stores.submissions.get('local-1'))!.batchId).toBe(created.id);
    expect((await stores.submissions.get('local-2'))!.state).toBe('DONE');
    expect(q.isPending('c1')).toBe(true);
    expect(q.isPending('c2')).toBe(false);
    await until(async () => Boolean((await stores.results.get('c1'))?.raw), 'c1 answered');
    expect(server.batchSubmissions.get('c1')).toBe(1);
  });
});
