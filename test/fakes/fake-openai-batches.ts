// The Batch API as the real one behaves, over the fake Files API: create from an uploaded
// JSONL file, validate it, progress in time (validating -> in_progress -> finalizing ->
// completed), write output and error files, expire, fail, cancel, list. Nothing runs when a
// batch is created: its state follows from timestamps and is settled when it is next read,
// so a test polls as it would poll OpenAI and no timer outlives the server.
import { randomBytes } from 'node:crypto';
import { FakeOpenAIFiles, HttpReply, invalid, newId } from './fake-openai-files';
import { FakeUsage, responsesUsage } from './openai-wire';

export interface FakeBatchOptions {
  /** From creation to the end of a batch (default 200 ms): a quarter validating, half in progress, a quarter finalizing. */
  completeAfterMs?: number;
  /** Only the first N requests of each batch are answered, then it ends 'expired'. */
  expireAfterCompleting?: number;
  /** Lines whose custom_id matches fail with a server error (in the error file). */
  failCustomIds?: (customId: string) => boolean;
  /** The first N batches created end 'failed'. */
  failBatches?: number;
}

/** One request of a batch, handed to the server to answer as it answers synchronous calls. */
export interface BatchLine {
  batchId: string;
  customId: string;
  url: string;
  body: Record<string, any>;
}

export interface BatchLineResult {
  statusCode: number;
  body: Record<string, unknown>;
  usage?: FakeUsage;
}

export type BatchLineRunner = (line: BatchLine) => Promise<BatchLineResult>;

// Documented limits of one batch input file.
const MAX_LINES = 50_000;
const MAX_BYTES = 200 * 1024 * 1024;
const ENDPOINTS = new Set(['/v1/responses', '/v1/chat/completions']);
const OPEN_STATUSES = new Set(['validating', 'in_progress', 'finalizing']);

interface LineError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

interface Batch {
  id: string;
  createdMs: number;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  metadata: Record<string, string> | null;
  lines: BatchLine[];
  model: string | null;
  errors: LineError[];
  cancelMs?: number;
  settled?: Promise<void>;
  result?: { outputFileId: string | null; errorFileId: string | null; completed: number; failed: number; usage: FakeUsage };
}

export interface BatchCounters {
  created: number;
  /** Batch lines answered (HTTP 200 in the output file). */
  linesSucceeded: number;
  /** Batch lines in an error file (failed, expired or cancelled). */
  linesFailed: number;
}

const seconds = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));

export class FakeOpenAIBatches {
  /** For every custom_id, how many batches it was submitted in: to assert exactly-once submission. */
  readonly batchSubmissions = new Map<string, number>();
  readonly counters: BatchCounters = { created: 0, linesSucceeded: 0, linesFailed: 0 };
  private readonly batches: Batch[] = [];

  constructor(
    private readonly opts: FakeBatchOptions,
    readonly files: FakeOpenAIFiles,
    private readonly run: BatchLineRunner,
    private readonly now: () => number = Date.now,
  ) {}

  /** Handles /v1/files and /v1/batches routes; undefined when the path is neither. */
  async route(method: string, url: string, contentType: string | undefined, raw: Buffer): Promise<HttpReply | undefined> {
    const u = new URL(url, 'http://fake');
    const files = await this.files.route(method, u.pathname, contentType, raw);
    if (files) return files;
    if (u.pathname === '/v1/batches' && method === 'POST') return this.create(raw);
    if (u.pathname === '/v1/batches' && method === 'GET') return this.list(u.searchParams);
    const m = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(u.pathname);
    if (!m) return undefined;
    const batch = this.batches.find((b) => b.id === decodeURIComponent(m[1]!));
    if (!batch) return invalid(`No batch found with id '${decodeURIComponent(m[1]!)}'.`, 404);
    if (!m[2] && method === 'GET') return { status: 200, json: await this.view(batch) };
    if (m[2] && method === 'POST') return this.cancel(batch);
    return undefined;
  }

  private async create(raw: Buffer): Promise<HttpReply> {
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw.toString('utf8') || '{}');
    } catch {
      return invalid('We could not parse the JSON body of your request.');
    }
    if (typeof body.input_file_id !== 'string') return invalid("Missing required parameter: 'input_file_id'.", 400, 'input_file_id');
    if (!ENDPOINTS.has(body.endpoint)) return invalid(`Invalid value for 'endpoint': the fake serves ${[...ENDPOINTS].join(' and ')}.`, 400, 'endpoint');
    if (body.completion_window !== '24h') return invalid("Invalid value for 'completion_window': only '24h' is supported.", 400, 'completion_window');
    const input = this.files.get(body.input_file_id);
    if (!input) return invalid(`No such File object: ${body.input_file_id}`, 404, 'input_file_id');
    if (input.file.purpose !== 'batch') return invalid(`File ${body.input_file_id} has purpose '${input.file.purpose}'; a batch needs purpose 'batch'.`);
    const id = newId('batch_');
    const { lines, errors, model } = parseInput(input.content, body.endpoint, id);
    const batch: Batch = {
      id,
      createdMs: this.now(),
      endpoint: body.endpoint,
      inputFileId: body.input_file_id,
      completionWindow: '24h',
      metadata: body.metadata ?? null,
      lines,
      model,
      errors,
    };
    this.batches.push(batch);
    this.counters.created++;
    for (const customId of new Set(lines.map((l) => l.customId))) this.batchSubmissions.set(customId, (this.batchSubmissions.get(customId) ?? 0) + 1);
    if (this.batches.length <= (this.opts.failBatches ?? 0)) {
      batch.errors.push({ code: 'batch_failed', message: 'The batch failed because of an internal error. Please retry.', param: null, line: null });
    }
    return { status: 200, json: await this.view(batch) };
  }

  private async list(q: URLSearchParams): Promise<HttpReply> {
    const limit = Math.min(100, Math.max(1, Number(q.get('limit') ?? 20) || 20));
    const newest = [...this.batches].reverse();
    const after = q.get('after');
    const start = after ? newest.findIndex((b) => b.id === after) + 1 : 0;
    const page = newest.slice(start, start + limit);
    const data = await Promise.all(page.map((b) => this.view(b)));
    return {
      status: 200,
      json: { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < newest.length },
    };
  }

  private async cancel(batch: Batch): Promise<HttpReply> {
    const status = String((await this.view(batch)).status);
    if (status === 'cancelling' || status === 'cancelled') return { status: 200, json: await this.view(batch) };
    if (!OPEN_STATUSES.has(status)) return invalid(`Cannot cancel a batch with status '${status}'.`);
    batch.cancelMs = this.now();
    return { status: 200, json: await this.view(batch) };
  }

  /** The phase times of a batch, all from its creation time (and its cancel time), and how it ends. */
  private timeline(b: Batch): { validated: number; finalizing?: number; end: number; outcome: 'failed' | 'cancelled' | 'expired' | 'completed' } {
    const t = this.opts.completeAfterMs ?? 200;
    const validated = b.createdMs + t / 4;
    if (b.cancelMs !== undefined) return { validated, end: b.cancelMs + t / 4, outcome: 'cancelled' };
    if (b.errors.length) return { validated, end: validated, outcome: 'failed' };
    const expires = this.opts.expireAfterCompleting !== undefined && this.opts.expireAfterCompleting < b.lines.length;
    if (expires) return { validated, end: b.createdMs + t, outcome: 'expired' };
    return { validated, finalizing: b.createdMs + (3 * t) / 4, end: b.createdMs + t, outcome: 'completed' };
  }

  /** How many requests a cancelled batch got through: its progress through in_progress when cancelled. */
  private doneAtCancel(b: Batch): number {
    const t = this.opts.completeAfterMs ?? 200;
    const share = (b.cancelMs! - (b.createdMs + t / 4)) / (t / 2);
    return Math.max(0, Math.min(b.lines.length, Math.floor(b.lines.length * share)));
  }

  /** The Batch object as the API returns it now, settling the batch first if it has ended. */
  private async view(b: Batch): Promise<Record<string, unknown>> {
    const now = this.now();
    const tl = this.timeline(b);
    const ended = now >= tl.end;
    if (ended && tl.outcome !== 'failed') await (b.settled ??= this.settle(b));
    const at = (ms: number | undefined) => (ms !== undefined && now >= ms ? seconds(ms) : null);
    let status: string;
    if (ended) status = tl.outcome;
    else if (tl.outcome === 'cancelled') status = 'cancelling';
    else if (now < tl.validated) status = 'validating';
    else status = tl.finalizing !== undefined && now >= tl.finalizing ? 'finalizing' : 'in_progress';
    const validated = !b.errors.length && now >= tl.validated && (b.cancelMs === undefined || b.cancelMs >= tl.validated);
    const r = b.result;
    const usage = r?.usage ?? { inputTokens: 0, cachedTokens: 0, outputTokens: 0 };
    return {
      id: b.id,
      object: 'batch',
      endpoint: b.endpoint,
      model: b.model,
      errors: status === 'failed' ? { object: 'list', data: b.errors } : null,
      input_file_id: b.inputFileId,
      completion_window: b.completionWindow,
      status,
      output_file_id: r?.outputFileId ?? null,
      error_file_id: r?.errorFileId ?? null,
      created_at: seconds(b.createdMs),
      in_progress_at: validated ? seconds(tl.validated) : null,
      expires_at: seconds(b.createdMs + 24 * 3600 * 1000),
      finalizing_at: at(tl.finalizing),
      completed_at: status === 'completed' ? seconds(tl.end) : null,
      failed_at: status === 'failed' ? seconds(tl.end) : null,
      expired_at: status === 'expired' ? seconds(tl.end) : null,
      cancelling_at: seconds(b.cancelMs),
      cancelled_at: status === 'cancelled' ? seconds(tl.end) : null,
      request_counts: { total: validated ? b.lines.length : 0, completed: r?.completed ?? 0, failed: r?.failed ?? 0 },
      usage: responsesUsage(usage),
      metadata: b.metadata,
    };
  }

  /** Answers the requests of an ended batch, in file order, and writes its files. */
  private async settle(b: Batch): Promise<void> {
    const limit = b.cancelMs !== undefined ? this.doneAtCancel(b) : Math.min(b.lines.length, this.opts.expireAfterCompleting ?? Infinity);
    const out: string[] = [];
    const errs: string[] = [];
    const usage: FakeUsage = { inputTokens: 0, cachedTokens: 0, outputTokens: 0 };
    let completed = 0;
    let failed = 0;
    for (const [i, line] of b.lines.entries()) {
      const id = `batch_req_${randomBytes(12).toString('hex')}`;
      const custom_id = line.customId;
      if (i >= limit) {
        const error =
          b.cancelMs !== undefined
            ? { code: 'batch_cancelled', message: 'This request was cancelled before it could be executed.' }
            : { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' };
        errs.push(JSON.stringify({ id, custom_id, response: null, error }));
        continue;
      }
      const res: BatchLineResult = this.opts.failCustomIds?.(custom_id)
        ? {
            statusCode: 500,
            body: {
              error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null },
            },
          }
        : await this.run(line);
      const entry = JSON.stringify({
        id,
        custom_id,
        response: { status_code: res.statusCode, request_id: `req_${randomBytes(16).toString('hex')}`, body: res.body },
        error: null,
      });
      if (res.statusCode === 200) {
        out.push(entry);
        completed++;
        if (res.usage) for (const k of ['inputTokens', 'cachedTokens', 'outputTokens'] as const) usage[k] += res.usage[k];
      } else {
        errs.push(entry);
        failed++;
      }
    }
    this.counters.linesSucceeded += out.length;
    this.counters.linesFailed += errs.length;
    const file = (lines: string[], kind: string) =>
      lines.length ? this.files.add(Buffer.from(lines.map((l) => `${l}\n`).join('')), `${b.id}_${kind}.jsonl`, `batch_${kind}`).id : null;
    b.result = { outputFileId: file(out, 'output'), errorFileId: file(errs, 'error'), completed, failed, usage };
  }
}

/** Parses and validates a batch input file as the API does; every broken rule is an error with its line. */
function parseInput(content: Buffer, endpoint: string, batchId: string): { lines: BatchLine[]; errors: LineError[]; model: string | null } {
  const errors: LineError[] = [];
  const err = (code: string, message: string, line: number | null, param: string | null = null) => errors.push({ code, message, param, line });
  const text = content.toString('utf8');
  const rows = text.split('\n').filter((l) => l.trim() !== '');
  if (rows.length === 0) err('empty_file', 'The batch input file is empty.', null);
  if (rows.length > MAX_LINES) err('too_many_tasks', `The batch input file has ${rows.length} requests; a batch can hold at most ${MAX_LINES}.`, null);
  if (content.length > MAX_BYTES) err('file_too_large', `The batch input file is ${content.length} bytes; the limit is ${MAX_BYTES}.`, null);
  const lines: BatchLine[] = [];
  const seen = new Set<string>();
  let model: string | null = null;
  for (const [i, row] of rows.entries()) {
    const n = i + 1;
    let parsed: any;
    try {
      parsed = JSON.parse(row);
    } catch {
      err('invalid_json_line', 'This line is not parseable as valid JSON.', n);
      continue;
    }
    const customId = parsed?.custom_id;
    if (typeof customId !== 'string' || customId === '') {
      err('missing_required_parameter', "Missing required parameter: 'custom_id'.", n, 'custom_id');
      continue;
    }
    if (seen.has(customId)) {
      err(
        'duplicate_custom_id',
        'The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique for each request in a batch.',
        n,
        'custom_id',
      );
    }
    seen.add(customId);
    if (parsed.method !== 'POST') err('invalid_method', "The method for this request must be 'POST'.", n, 'method');
    if (parsed.url !== endpoint) err('url_mismatch', `The url for this request does not match the batch endpoint ${endpoint}.`, n, 'url');
    const body = parsed.body && typeof parsed.body === 'object' ? parsed.body : {};
    if (typeof body.model !== 'string') err('missing_required_parameter', "Missing required parameter: 'body.model'.", n, 'body.model');
    else if (model === null) model = body.model;
    else if (body.model !== model)
      err(
        'model_mismatch',
        `The model for this request (${body.model}) differs from the batch's model (${model}); a batch file holds one model.`,
        n,
        'body.model',
      );
    lines.push({ batchId, customId, url: String(parsed.url), body });
  }
  return { lines, errors, model };
}
