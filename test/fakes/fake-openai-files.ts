// The Files API the Batch API reads from and writes to: multipart upload, retrieve, list,
// delete and raw content, in the shapes the openai SDK expects (resources/files).
import { randomBytes } from 'node:crypto';
import { errorBody } from './openai-wire';

export interface FakeFileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
}

/** What a route answers: JSON, or raw bytes (file content). */
export type HttpReply = { status: number; json: unknown } | { status: number; raw: Buffer; contentType: string };

const PURPOSES = new Set(['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals']);
// The documented per-file upload limit.
const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

export const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;

export const invalid = (message: string, status = 400, param: string | null = null): HttpReply => ({ status, json: errorBody(status, message, null, param) });

export class FakeOpenAIFiles {
  readonly byId = new Map<string, { file: FakeFileObject; content: Buffer }>();
  /** Files uploaded by clients (outputs the fake writes are not counted). */
  uploaded = 0;

  constructor(private readonly now: () => number) {}

  /** Stores a file; the Batch API uses it for its output and error files. */
  add(content: Buffer, filename: string, purpose: string): FakeFileObject {
    const file: FakeFileObject = {
      id: newId('file-'),
      object: 'file',
      bytes: content.length,
      created_at: Math.floor(this.now() / 1000),
      filename,
      purpose,
      status: 'processed',
    };
    this.byId.set(file.id, { file, content });
    return file;
  }

  get(id: string): { file: FakeFileObject; content: Buffer } | undefined {
    return this.byId.get(id);
  }

  /** Handles /v1/files routes; undefined when the path is not one. */
  async route(method: string, path: string, contentType: string | undefined, raw: Buffer): Promise<HttpReply | undefined> {
    if (path === '/v1/files' && method === 'POST') return this.upload(contentType, raw);
    if (path === '/v1/files' && method === 'GET') {
      const data = [...this.byId.values()].map((f) => f.file).reverse();
      return { status: 200, json: { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: false } };
    }
    const m = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(path);
    if (!m) return undefined;
    const id = decodeURIComponent(m[1]!);
    const stored = this.byId.get(id);
    if (!stored) return invalid(`No such File object: ${id}`, 404, 'id');
    if (m[2] && method === 'GET') return { status: 200, raw: stored.content, contentType: 'application/octet-stream' };
    if (!m[2] && method === 'GET') return { status: 200, json: stored.file };
    if (!m[2] && method === 'DELETE') {
      this.byId.delete(id);
      return { status: 200, json: { id, object: 'file', deleted: true } };
    }
    return undefined;
  }

  private async upload(contentType: string | undefined, raw: Buffer): Promise<HttpReply> {
    if (!contentType?.startsWith('multipart/form-data')) return invalid('The request must be multipart/form-data.');
    let form: FormData;
    try {
      form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    } catch (err) {
      return invalid(`Could not parse multipart form: ${(err as Error).message}`);
    }
    const purpose = form.get('purpose');
    const file = form.get('file');
    if (typeof purpose !== 'string') return invalid("'purpose' is a required property", 400, 'purpose');
    if (!PURPOSES.has(purpose)) return invalid(`'${purpose}' is not one of ${[...PURPOSES].map((p) => `'${p}'`).join(', ')} - 'purpose'`, 400, 'purpose');
    if (file === null || typeof file === 'string') return invalid("'file' is a required property", 400, 'file');
    const content = Buffer.from(await file.arrayBuffer());
    if (content.length > MAX_UPLOAD_BYTES) return invalid(`File is too large: ${content.length} bytes; the limit is ${MAX_UPLOAD_BYTES}.`, 400, 'file');
    const filename = file.name || 'upload';
    if (purpose === 'batch' && !filename.endsWith('.jsonl')) return invalid('Invalid file format for Batch API. Must be .jsonl', 400, 'file');
    this.uploaded++;
    return { status: 200, json: this.add(content, filename, purpose) };
  }
}
