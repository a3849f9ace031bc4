// OpenAI's Batch API for the Responses endpoint: a JSONL file of requests uploaded with
// purpose "batch", a batch created over it with a 24 h window at half price, polled until it
// ends, and its output and error files read back. Only the calls the queue needs, through
// the official SDK; errors are classified like every provider call (never showing the key).
import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { openaiClient } from './openai-client';
import { callWithDeadline } from './provider-errors';

/** A terminal batch status: its files will not change any more. */
export const TERMINAL_BATCH_STATUSES: ReadonlySet<string> = new Set(['completed', 'expired', 'failed', 'cancelled']);

/** One line of a batch's output or error file, as the API writes it. */
export interface BatchOutputLine {
  custom_id: string;
  response: { status_code: number; body: Record<string, unknown> } | null;
  error: { code?: string; message?: string } | null;
}

export class OpenAIBatchApi {
  readonly #client: OpenAI;
  readonly #apiKey: string;

  constructor(
    apiKey: string,
    private readonly baseURL: string | undefined,
    private readonly timeoutMs = 120_000,
  ) {
    this.#apiKey = apiKey;
    this.#client = openaiClient(apiKey, baseURL, timeoutMs);
  }

  private call<T>(what: string, fn: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    return callWithDeadline(
      undefined,
      this.timeoutMs,
      () => ({ provider: `openai-batch ${what}`, model: '', secrets: [this.#apiKey], baseURL: this.baseURL }),
      fn,
    );
  }

  /** Uploads the requests and creates the batch; `metadata.valor_local_id` finds it again after a crash. */
  async submit(jsonl: string, localId: string): Promise<Batch> {
    const upload = await toFile(Buffer.from(jsonl, 'utf8'), `valor-${localId}.jsonl`);
    const file = await this.call('upload', (signal) => this.#client.files.create({ file: upload, purpose: 'batch' }, { signal }));
    return this.call('create', (signal) =>
      this.#client.batches.create(
        { input_file_id: file.id, endpoint: '/v1/responses', completion_window: '24h', metadata: { valor_local_id: localId } },
        { signal },
      ),
    );
  }

  retrieve(batchId: string): Promise<Batch> {
    return this.call('retrieve', (signal) => this.#client.batches.retrieve(batchId, { signal }));
  }

  /** The batch created with `metadata.valor_local_id = localId` among the newest `maxBatches`, if any. */
  async findByLocalId(localId: string, maxBatches = 1_000): Promise<Batch | undefined> {
    let seen = 0;
    for await (const b of this.#client.batches.list({ limit: 100 })) {
      if ((b.metadata as Record<string, string> | null)?.valor_local_id === localId) return b;
      if (++seen >= maxBatches) break;
    }
    return undefined;
  }

  /** The lines of an output or error file. */
  async lines(fileId: string): Promise<BatchOutputLine[]> {
    const res = await this.call('download', (signal) => this.#client.files.content(fileId, { signal }));
    const text = await res.text();
    return text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as BatchOutputLine);
  }
}

/** The answer text of a Responses API body as a batch output file holds it (no SDK helper there). */
export function responsesOutputText(body: Record<string, unknown>): string {
  const out = (body.output ?? []) as Array<{ type?: string; content?: Array<{ type?: string; text?: string }> }>;
  return out
    .filter((o) => o.type === 'message')
    .flatMap((o) => o.content ?? [])
    .filter((c) => c.type === 'output_text' && typeof c.text === 'string')
    .map((c) => c.text)
    .join('');
}
