// Reads image-query events from JSONL corpora. Lines are streamed, never loaded whole, so a
// corpus may be larger than memory; a bad line comes back as an error item rather than an
// exception, so the producer can dead-letter it and carry on.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../../core/errors';
import { DEFAULT_TEXT_LIMITS, queryTextProblems, TextLimits } from '../../core/text-limits';

const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
// Standard and URL-safe alphabets, optional padding; Buffer.from would silently skip junk.
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

const imageRef = z.union(
  [
    z
      .string()
      .min(1, 'image path or URL is empty')
      .refine((s) => {
        const scheme = URL_SCHEME.exec(s)?.[1]?.toLowerCase();
        return scheme === undefined || scheme === 'http' || scheme === 'https' || scheme === 'file';
      }, 'image URL must be http(s) or file'),
    z.object({
      bytes_b64: z
        .string()
        .transform((s) => s.replace(/\s+/g, ''))
        .refine((s) => s.length > 0 && BASE64.test(s), 'bytes_b64 is not base64'),
    }),
  ],
  { error: (iss) => (iss.input === undefined ? 'required' : 'expected a path, an http(s) URL or {bytes_b64}') },
);

/** One line of a corpus file, as written. Unknown fields are ignored for forward compatibility. */
export const corpusLineSchema = z.object({
  // The id is the record key downstream: a leading zero byte would read as the Confluent
  // magic byte to a key decoder (keys are plain UTF-8, see README).
  id: z
    .string()
    .min(1)
    .refine((s) => !s.startsWith('\u0000'), 'id must not start with a zero byte')
    .optional(),
  image: imageRef,
  question: z.string({ error: (iss) => (iss.input === undefined ? 'required' : undefined) }).refine((s) => s.trim().length > 0, 'question is empty'),
  phrases: z.array(z.string()).optional(),
  program: z.string().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
});
export type CorpusLine = z.infer<typeof corpusLineSchema>;

export interface CorpusEvent {
  id: string;
  /** Absolute path or http(s) URL; null when the bytes are inline. */
  imageUri: string | null;
  imageBytes: Buffer | null;
  question: string;
  phrases: string[];
  program: string | null;
  metadata: Record<string, string>;
}

export type CorpusItem = { ok: true; line: number; file: string; event: CorpusEvent } | { ok: false; line: number; file: string; raw: string; error: string };

export interface ReadCorpusOptions {
  /** Stamped into metadata.corpus when a line does not set it itself. */
  corpusName?: string;
  /**
   * Text limits a line must meet (default: core/text-limits.ts's). Pass those of the node
   * that reads the events (corpus-source.ts's intakeLimits), so the corpus refuses exactly
   * what that node would; a lone surrogate must be caught here, as encoding replaces it.
   */
  limits?: TextLimits;
  /** Where `limits` are configured, named in a length problem (default 'limits'). */
  limitsKey?: string;
}

/** Stable across runs and machines (but not renames): sha256(basename:line), 16 hex chars. */
export function stableEventId(file: string, line: number): string {
  return createHash('sha256')
    .update(`${path.basename(file)}:${line}`)
    .digest('hex')
    .slice(0, 16);
}

function resolveImage(image: string, file: string): string {
  const scheme = URL_SCHEME.exec(image)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return image;
  if (scheme === 'file') return fileURLToPath(image);
  // Relative paths are relative to the corpus file, so a corpus directory can be moved whole.
  return path.resolve(path.dirname(file), image);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length ? issue.path.map(String).join('.') : '(line)';
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Parses and validates one corpus line. `file` should be absolute: relative image paths are
 * resolved against its directory. Returns null for blank lines.
 */
export function parseCorpusLine(raw: string, file: string, line: number, opts: ReadCorpusOptions = {}): CorpusItem | null {
  if (raw.trim() === '') return null;
  const fail = (why: string): CorpusItem => ({ ok: false, line, file, raw, error: `${file}:${line}: ${why}` });
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return fail(`invalid JSON: ${(err as Error).message}`);
  }
  const parsed = corpusLineSchema.safeParse(json);
  if (!parsed.success) return fail(describeIssues(parsed.error));
  const v = parsed.data;
  const textProblems = queryTextProblems(v, opts.limits ?? DEFAULT_TEXT_LIMITS, opts.limitsKey ?? 'limits');
  if (textProblems.length) return fail(textProblems.join('; '));
  const metadata: Record<string, string> = { ...v.metadata };
  if (opts.corpusName !== undefined && metadata.corpus === undefined) metadata.corpus = opts.corpusName;
  const inline = typeof v.image === 'string' ? null : Buffer.from(v.image.bytes_b64, 'base64');
  if (inline && inline.length === 0) return fail('image.bytes_b64: decodes to no bytes');
  return {
    ok: true,
    line,
    file,
    event: {
      id: v.id ?? stableEventId(file, line),
      imageUri: typeof v.image === 'string' ? resolveImage(v.image, file) : null,
      imageBytes: inline,
      question: v.question,
      phrases: v.phrases ?? [],
      program: v.program ?? null,
      metadata,
    },
  };
}

/**
 * The corpus files behind `p`, absolute: the file itself, or a directory's `*.jsonl` files
 * (not recursive) in name order so a replay reads them in the same order every time.
 */
export async function listCorpusFiles(p: string): Promise<string[]> {
  const abs = path.resolve(p);
  let st;
  try {
    st = await stat(abs);
  } catch (err) {
    throw new ConfigError(`corpus: cannot read ${abs}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isDirectory()) return [abs];
  const entries = await readdir(abs, { withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && e.name.endsWith('.jsonl'))
    .map((e) => e.name)
    // Code-unit order, not locale order: the same on every machine.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => path.join(abs, name));
  if (files.length === 0) throw new ConfigError(`corpus: no *.jsonl files in ${abs}`);
  return files;
}

/** Streams the events of a JSONL file or directory of them; see CorpusItem for bad lines. */
export async function* readCorpus(p: string, opts: ReadCorpusOptions = {}): AsyncGenerator<CorpusItem> {
  for (const file of await listCorpusFiles(p)) {
    const input = createReadStream(file, { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Infinity });
    let line = 0;
    try {
      for await (const text of lines) {
        line++;
        // A UTF-8 BOM would otherwise make the first line invalid JSON.
        const raw = line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
        const item = parseCorpusLine(raw, file, line, opts);
        if (item) yield item;
      }
    } finally {
      // Also runs when the consumer stops early: release the file handle.
      lines.close();
      input.destroy();
    }
  }
}

/**
 * Newline count over the file(s) behind `p` (plus one for an unterminated last line): a
 * cheap total for a progress bar. Blank lines are counted though readCorpus skips them.
 */
export async function countLines(p: string): Promise<number> {
  let total = 0;
  for (const file of await listCorpusFiles(p)) {
    let last = -1;
    let bytes = 0;
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) total++;
      bytes += chunk.length;
      last = chunk[chunk.length - 1];
    }
    if (bytes > 0 && last !== 10) total++;
  }
  return total;
}
