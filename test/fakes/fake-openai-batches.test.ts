import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { FakeOpenAIOptions, FakeOpenAIServer } from './fake-openai-server';

// 5000 characters of instructions: 1250 tokens, enough for prompt caching.
const LONG = 'Judge whether the box holds the object. '.repeat(125).slice(0, 5000);
const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
const BATCH_FIELDS = [
  'id',
  'object',
  'endpoint',
  'errors',
  'input_file_id',
  'completion_window',
  'status',
  'output_file_id',
  'error_file_id',
  'created_at',
  'in_progress_at',
  'expires_at',
  'finalizing_at',
  'completed_at',
  'failed_at',
  'expired_at',
  'cancelling_at',
  'cancelled_at',
  'request_counts',
  'metadata',
];

const line = (custom_id: string, input: string, extra: { model?: string; url?: string } = {}) =>
  JSON.stringify({ custom_id, method: 'POST', url: extra.url ?? '/v1/responses', body: { model: extra.model ?? 'gpt-5-mini', instructions: LONG, input } });

describe('the fake Batch API through the real openai SDK', () => {
  let server: FakeOpenAIServer;
  let client: OpenAI;
  const start = async (opts: Partial<FakeOpenAIOptions> = {}) => {
    server = new FakeOpenAIServer({ oracle: (r) => JSON.stringify({ echo: r.text }), ...opts });
    client = new OpenAI({ apiKey: 'sk-test', baseURL: await server.start(), maxRetries: 0 });
  };
  afterEach(() => server.close());

  const submit = async (lines: string[], endpoint: '/v1/responses' | '/v1/chat/completions' = '/v1/responses') => {
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'in.jsonl'), purpose: 'batch' });
    return client.batches.create({ input_file_id: file.id, endpoint, completion_window: '24h', metadata: { job: 'test' } });
  };
  /** Polls as a client polls OpenAI, until the batch ends. */
  const finished = async (id: string): Promise<Batch> => {
    for (;;) {
      const b = await client.batches.retrieve(id);
      if (TERMINAL.has(b.status)) return b;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const jsonl = async (fileId: string | null | undefined): Promise<any[]> => {
    if (!fileId) return [];
    const text = await (await client.files.content(fileId)).text();
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  };

  it('round trip: upload, create, poll, read the output; answered when the batch completes, with prompt caching', async () => {
    await start();
    const uploaded = await client.files.create({
      file: await toFile(Buffer.from(['a', 'b', 'c'].map((id) => line(id, `question ${id}`)).join('\n')), 'in.jsonl'),
      purpose: 'batch',
    });
    expect(uploaded).toMatchObject({ object: 'file', purpose: 'batch', status: 'processed', filename: 'in.jsonl', bytes: expect.any(Number) });
    expect(uploaded.id).toMatch(/^file-/);
    expect(await client.files.retrieve(uploaded.id)).toEqual(uploaded);
    expect(await (await client.files.content(uploaded.id)).text()).toContain('"custom_id":"a"');

    const created = await client.batches.create({ input_file_id: uploaded.id, endpoint: '/v1/responses', completion_window: '24h', metadata: { job: 'x' } });
    expect(Object.keys(created)).toEqual(expect.arrayContaining(BATCH_FIELDS));
    expect(created).toMatchObject({ object: 'batch', status: 'validating', errors: null, output_file_id: null, metadata: { job: 'x' } });
    expect(created.id).toMatch(/^batch_/);
    expect(created.expires_at).toBe(created.created_at + 24 * 3600);
    // Nothing is answered at creation.
    expect(server.batchCalls).toHaveLength(0);

    const done = await finished(created.id);
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 3, failed: 0 }, error_file_id: null, model: 'gpt-5-mini' });
    expect(done.completed_at).toEqual(expect.any(Number));
    expect(done.in_progress_at).toEqual(expect.any(Number));
    expect(done.finalizing_at).toEqual(expect.any(Number));
    const out = await jsonl(done.output_file_id);
    expect(out.map((l) => l.custom_id)).toEqual(['a', 'b', 'c']);
    for (const l of out) {
      expect(l).toMatchObject({ id: expect.stringMatching(/^batch_req_/), error: null, response: { status_code: 200, request_id: expect.any(String) } });
      expect(l.response.body).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-5-mini' });
      expect(JSON.parse(l.response.body.output[0].content[0].text)).toEqual({ echo: `question ${l.custom_id}` });
    }
    // The instructions are shared: the first line pays for them, the others hit the cache.
    expect(out.map((l) => l.response.body.usage.input_tokens_details.cached_tokens)).toEqual([0, 1152, 1152]);
    expect(done.usage?.input_tokens_details.cached_tokens).toBe(2304);
    expect(server.usageTotals.batch).toMatchObject({ requests: 3, cachedTokens: 2304 });
    // Batch requests are recorded apart from synchronous ones.
    expect(server.calls).toHaveLength(0);
    expect(server.batchCalls.map((c) => [c.customId, c.batchId, c.text])).toEqual(['a', 'b', 'c'].map((id) => [id, created.id, `question ${id}`]));
    expect(await client.files.retrieve(done.output_file_id!)).toMatchObject({ purpose: 'batch_output' });
    // Reading it again answers nothing again.
    await client.batches.retrieve(created.id);
    expect(server.batchCalls).toHaveLength(3);
    expect(server.batches.counters).toMatchObject({ created: 1, linesSucceeded: 3, linesFailed: 0 });
    expect(server.batches.files.uploaded).toBe(1);
  });

  it('expiry: only the first N requests complete; the rest are batch_expired in the error file', async () => {
    await start({ batch: { expireAfterCompleting: 2 } });
    const b = await finished((await submit(['a', 'b', 'c', 'd', 'e'].map((id) => line(id, id)))).id);
    expect(b).toMatchObject({ status: 'expired', completed_at: null, request_counts: { total: 5, completed: 2, failed: 0 } });
    expect(b.expired_at).toEqual(expect.any(Number));
    expect((await jsonl(b.output_file_id)).map((l) => l.custom_id)).toEqual(['a', 'b']);
    const errors = await jsonl(b.error_file_id);
    expect(errors.map((l) => l.custom_id)).toEqual(['c', 'd', 'e']);
    expect(errors[0]).toMatchObject({
      response: null,
      error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
    });
    expect(server.batchCalls.map((c) => c.customId)).toEqual(['a', 'b']);
  });

  it('failed lines go to the error file; the first N batches fail', async () => {
    await start({ batch: { failBatches: 1, failCustomIds: (id) => id === 'b' } });
    const first = await finished((await submit(['a', 'b', 'c'].map((id) => line(id, id)))).id);
    expect(first).toMatchObject({ status: 'failed', output_file_id: null, error_file_id: null, errors: { object: 'list', data: [{ code: 'batch_failed' }] } });
    expect(first.failed_at).toEqual(expect.any(Number));
    const second = await finished((await submit(['a', 'b', 'c'].map((id) => line(id, id)))).id);
    expect(second).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 2, failed: 1 } });
    const [err] = await jsonl(second.error_file_id);
    expect(err).toMatchObject({ custom_id: 'b', error: null, response: { status_code: 500, body: { error: { type: 'server_error' } } } });
    expect(server.batchCalls.map((c) => c.customId)).toEqual(['a', 'c']);
    // Submitted twice each, answered once: what an exactly-once check looks at.
    expect(Object.fromEntries(server.batchSubmissions)).toEqual({ a: 2, b: 2, c: 2 });
    expect(server.batches.counters.created).toBe(2);
  });

  it('validation: duplicate custom_ids, a wrong url and a second model fail the batch with per-line errors', async () => {
    await start();
    const dup = await finished((await submit([line('a', 'x'), line('a', 'y')])).id);
    expect(dup).toMatchObject({ status: 'failed', request_counts: { total: 0, completed: 0, failed: 0 }, output_file_id: null, in_progress_at: null });
    expect(dup.errors?.data).toEqual([{ code: 'duplicate_custom_id', line: 2, param: 'custom_id', message: expect.stringContaining('duplicate') }]);
    const mixed = await finished(
      (await submit([line('a', 'x'), line('b', 'y', { url: '/v1/chat/completions' }), line('c', 'z', { model: 'gpt-5-nano' }), '{not json'])).id,
    );
    expect(mixed.errors?.data?.map((e) => [e.code, e.line])).toEqual([
      ['url_mismatch', 2],
      ['model_mismatch', 3],
      ['invalid_json_line', 4],
    ]);
    expect(server.batchCalls).toHaveLength(0);
    // What the real API refuses at once.
    await expect(client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/responses', completion_window: '24h' })).rejects.toMatchObject({
      status: 404,
    });
    const notJsonl = toFile(Buffer.from(line('a', 'x')), 'in.txt');
    await expect(client.files.create({ file: await notJsonl, purpose: 'batch' })).rejects.toMatchObject({ status: 400 });
    await expect(client.batches.retrieve('batch_nope')).rejects.toMatchObject({ status: 404 });
  });

  it('lists newest first, a page at a time', async () => {
    await start();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit([line(`r${i}`, 'x')])).id);
    const newest = [...ids].reverse();
    const page = await client.batches.list({ limit: 2 });
    expect(page.data.map((b) => b.id)).toEqual(newest.slice(0, 2));
    expect(page.has_more).toBe(true);
    const all: string[] = [];
    for await (const b of client.batches.list({ limit: 2 })) all.push(b.id);
    expect(all).toEqual(newest);
    const raw = (await (
      await fetch(`${client.baseURL}/batches?limit=2&after=${newest[3]}`, { headers: { authorization: 'Bearer sk-test' } })
    ).json()) as Record<string, unknown>;
    expect(raw).toMatchObject({ object: 'list', first_id: newest[4], last_id: newest[4], has_more: false });
  });

  it('cancel: cancelling, then cancelled; what completed is in the output, the rest batch_cancelled', async () => {
    await start({ batch: { completeAfterMs: 4000 } });
    const created = await submit(['a', 'b', 'c', 'd'].map((id) => line(id, id)));
    const cancelling = await client.batches.cancel(created.id);
    expect(cancelling).toMatchObject({ status: 'cancelling', cancelling_at: expect.any(Number) });
    const b = await finished(created.id);
    expect(b).toMatchObject({ status: 'cancelled', cancelled_at: expect.any(Number), completed_at: null });
    const out = await jsonl(b.output_file_id);
    const errors = await jsonl(b.error_file_id);
    expect(out.length + errors.length).toBe(4);
    expect(b.request_counts?.completed).toBe(out.length);
    expect(errors.every((l) => l.error.code === 'batch_cancelled')).toBe(true);
    await expect(client.batches.cancel(created.id)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('runs Chat Completions batches too, answering in the chat shape', async () => {
    await start();
    const chatLine = (id: string) =>
      JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-5-mini', messages: [{ role: 'user', content: id }] } });
    const b = await finished((await submit([chatLine('p'), chatLine('q')], '/v1/chat/completions')).id);
    const out = await jsonl(b.output_file_id);
    expect(out.map((l) => [l.custom_id, l.response.body.object, l.response.body.choices[0].message.content])).toEqual([
      ['p', 'chat.completion', '{"echo":"p"}'],
      ['q', 'chat.completion', '{"echo":"q"}'],
    ]);
  });
});
