// The host side of the sandbox's tool channel (answer programs): the program's gd_detect,
// depth and vqa calls arrive as JSON lines on its fd 4 and are answered on its fd 5. Every
// request is checked here (a known tool, arguments of the method's shapes, the program's
// call budget) before the host's implementation runs; a refused or failed call is answered
// with an error that the program sees as ToolError. The program names no file and reaches
// no network: the host runs the tools on the record's own image.
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { errorMessage } from '../../core/errors';

export const TOOL_NAMES = ['gd_detect', 'depth', 'vqa'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

const bbox = z.array(z.number().finite()).length(4);
/** The method's tool API: gd_detect(img, "a, b"), depth(img, bbox), vqa(img, bbox | None, prompt). */
export const TOOL_ARGS = {
  gd_detect: z.tuple([z.string().max(4_096), z.string().min(1).max(2_000)]),
  depth: z.tuple([z.string().max(4_096), bbox]),
  vqa: z.tuple([z.string().max(4_096), bbox.nullable(), z.string().min(1).max(4_000)]),
} as const;

export type ToolArgs = { [T in ToolName]: z.infer<(typeof TOOL_ARGS)[T]> };

/** What the host runs for each tool (the image argument is the program's; the host ignores it). */
export interface ToolImplementations {
  gd_detect(phrases: string): Promise<Array<{ bbox: number[]; label: string }>>;
  depth(bbox: number[]): Promise<number>;
  vqa(bbox: number[] | null, prompt: string): Promise<string>;
}

export interface HostTools {
  impl: ToolImplementations;
  /** Calls a program may make; the next one is refused with a budget error. */
  maxCalls: number;
}

export interface ToolCallRecord {
  tool: string;
  args: unknown;
  result?: unknown;
  error?: string;
  latencyMs: number;
}

const MAX_LINE = 64 * 1024;

/** Serves one program's tool calls until its channel closes. */
export function serveTools(
  requests: Readable,
  replies: Writable,
  tools: HostTools,
): { calls: ToolCallRecord[]; budgetExceeded: () => boolean; done: Promise<void> } {
  const calls: ToolCallRecord[] = [];
  let exceeded = false;
  let buffer = '';
  let chain = Promise.resolve();
  const reply = (msg: object) => {
    if (!replies.destroyed) replies.write(`${JSON.stringify(msg)}\n`);
  };
  const handle = async (line: string): Promise<void> => {
    const started = performance.now();
    let req: { tool?: unknown; args?: unknown };
    try {
      req = JSON.parse(line) as typeof req;
    } catch {
      return reply({ error: 'request is not JSON' });
    }
    const record: ToolCallRecord = { tool: String(req.tool), args: req.args, latencyMs: 0 };
    // A program flooding the channel past its budget gets errors, and no more records here.
    if (calls.length > tools.maxCalls + 10) {
      exceeded = true;
      return reply({ error: `tool-call budget of ${tools.maxCalls} calls spent` });
    }
    calls.push(record);
    const done = (msg: { result?: unknown; error?: string }) => {
      Object.assign(record, msg, { latencyMs: Math.round(performance.now() - started) });
      reply(msg);
    };
    if (!(TOOL_NAMES as readonly string[]).includes(record.tool)) return done({ error: `unknown tool '${record.tool}' (tools: ${TOOL_NAMES.join(', ')})` });
    if (calls.length > tools.maxCalls) {
      exceeded = true;
      return done({ error: `tool-call budget of ${tools.maxCalls} calls spent` });
    }
    const tool = record.tool as ToolName;
    const parsed = TOOL_ARGS[tool].safeParse(req.args);
    if (!parsed.success) return done({ error: `bad arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ')}` });
    try {
      const a = parsed.data as unknown[];
      const result =
        tool === 'gd_detect'
          ? await tools.impl.gd_detect(a[1] as string)
          : tool === 'depth'
            ? await tools.impl.depth(a[1] as number[])
            : await tools.impl.vqa(a[1] as number[] | null, a[2] as string);
      done({ result });
    } catch (err) {
      done({ error: errorMessage(err).slice(0, 500) });
    }
  };
  // The program may exit without reading its last reply: a reset channel is no error here.
  replies.on('error', () => undefined);
  const done = new Promise<void>((resolve) => {
    requests.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      if (buffer.length > MAX_LINE && !buffer.includes('\n')) {
        buffer = '';
        chain = chain.then(() => reply({ error: `request longer than ${MAX_LINE} bytes` }));
        return;
      }
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        chain = chain.then(() => handle(line));
      }
    });
    requests.on('close', () => void chain.then(() => resolve()));
    requests.on('error', () => resolve());
  });
  return { calls, budgetExceeded: () => exceeded, done };
}
