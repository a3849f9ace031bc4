// The OpenAI wire formats the fakes read and write: request normalization (Chat Completions,
// Responses), token measurement (text, images, structured-output schema) and the response
// objects, shared by synchronous calls and Batch API lines.
import sharp from 'sharp';
import { imageTokens } from './image-tokens';
import { imageSegment, PromptSegment, textSegment } from './fake-prompt-cache';

/** One model request, the same for every fake endpoint, for oracles and assertions. */
export interface FakeModelRequest {
  endpoint: 'chat' | 'responses' | 'gemini';
  model: string;
  /** Every text part of the request joined with "\n"; system prompt / instructions excluded. */
  text: string;
  /** The system prompt / instructions / systemInstruction, if any. */
  instructions?: string;
  /** Inline images (data URLs, inlineData), decoded, in order. */
  images: Buffer[];
  body: Record<string, any>;
  /** The body's prompt_cache_key (OpenAI), when sent: recorded, it does not change matching. */
  promptCacheKey?: string;
}

export type FakeOracle = (req: FakeModelRequest) => string | Promise<string>;

/** A request whose content the fake refuses, as the real API would (HTTP 400). */
export class FakeRequestError extends Error {}

/** A non-system input part, in request order, for prompt caching. */
export type PromptPart = { type: 'text'; text: string } | { type: 'image'; image: Buffer };

/** A normalized request plus what measuring it needs. */
export interface Normalized {
  req: FakeModelRequest;
  parts: PromptPart[];
  /** The structured-output JSON schema, billed as input. */
  schema?: unknown;
}

const IMAGE_DATA_URL = /^data:(image\/[\w.+-]+);base64,(.*)$/s;

/** Decodes an inline image; non-data URLs (which the fake cannot fetch) give undefined. */
export function decodeDataUrl(url: unknown): Buffer | undefined {
  if (typeof url !== 'string') return undefined;
  const m = IMAGE_DATA_URL.exec(url);
  return m ? Buffer.from(m[2]!, 'base64') : undefined;
}

function collect(body: Record<string, any>, endpoint: 'chat' | 'responses', items: any[], system: string[]): Normalized {
  const texts: string[] = [];
  const images: Buffer[] = [];
  const parts: PromptPart[] = [];
  const isText = endpoint === 'chat' ? (t: unknown) => t === 'text' : (t: unknown) => t === 'input_text' || t === 'output_text';
  const imageOf =
    endpoint === 'chat' ? (p: any) => (p?.type === 'image_url' ? p.image_url?.url : undefined) : (p: any) => p?.type === 'input_image' && p.image_url;
  for (const item of items) {
    const isSystem = item?.role === 'system' || item?.role === 'developer';
    const text = (t: string) => {
      if (isSystem) return void system.push(t);
      texts.push(t);
      parts.push({ type: 'text', text: t });
    };
    if (typeof item?.content === 'string') text(item.content);
    else if (Array.isArray(item?.content)) {
      for (const p of item.content) {
        if (isText(p?.type) && typeof p.text === 'string') text(p.text);
        const img = decodeDataUrl(imageOf(p));
        if (img) {
          images.push(img);
          parts.push({ type: 'image', image: img });
        }
      }
    }
  }
  const format = endpoint === 'chat' ? body.response_format : body.text?.format;
  const schema = format?.type === 'json_schema' ? (endpoint === 'chat' ? format.json_schema?.schema : format.schema) : undefined;
  const key = typeof body.prompt_cache_key === 'string' ? { promptCacheKey: body.prompt_cache_key } : {};
  const req: FakeModelRequest = {
    endpoint,
    model: String(body.model ?? ''),
    text: texts.join('\n'),
    instructions: system.length ? system.join('\n') : undefined,
    images,
    body,
    ...key,
  };
  return { req, parts, schema };
}

export function normalizeChat(body: Record<string, any>): Normalized {
  return collect(body, 'chat', Array.isArray(body.messages) ? body.messages : [], []);
}

export function normalizeResponses(body: Record<string, any>): Normalized {
  const items = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : Array.isArray(body.input) ? body.input : [];
  return collect(body, 'responses', items, typeof body.instructions === 'string' ? [body.instructions] : []);
}

export interface PromptMeasure {
  inputTokens: number;
  /** The prompt as the cache sees it: schema, instructions, then the parts in order. */
  segments: PromptSegment[];
}

/**
 * Input tokens: a token per 4 characters of text (instructions included, as they are billed),
 * the JSON schema of a structured output likewise, and each image by OpenAI's patch rule for
 * the model. Images that do not decode are refused. Without `parts` (a request built by hand),
 * the text comes first, then the images.
 */
export async function measurePrompt(req: FakeModelRequest, parts?: PromptPart[], schema?: unknown): Promise<PromptMeasure> {
  const ordered: PromptPart[] = parts ?? [
    ...(req.text ? [{ type: 'text' as const, text: req.text }] : []),
    ...req.images.map((image) => ({ type: 'image' as const, image })),
  ];
  const schemaJson = schema === undefined ? undefined : JSON.stringify(schema);
  let input = Math.ceil((req.text.length + (req.instructions?.length ?? 0)) / 4) + (schemaJson ? Math.ceil(schemaJson.length / 4) : 0);
  const segments: PromptSegment[] = [];
  if (schemaJson) segments.push(textSegment(schemaJson));
  if (req.instructions) segments.push(textSegment(req.instructions));
  let i = 0;
  for (const p of ordered) {
    if (p.type === 'text') {
      segments.push(textSegment(p.text));
      continue;
    }
    let meta: { width?: number; height?: number };
    try {
      meta = await sharp(p.image).metadata();
    } catch (err) {
      throw new FakeRequestError(`image ${i} is not a decodable image: ${(err as Error).message}`);
    }
    i++;
    const tokens = imageTokens(meta.width ?? 0, meta.height ?? 0, req.model);
    input += tokens;
    segments.push(imageSegment(p.image, tokens));
  }
  return { inputTokens: input, segments };
}

/** Input and output tokens of one answer (no caching): see measurePrompt. */
export async function estimateUsage(
  req: FakeModelRequest,
  answer: string,
  parts?: PromptPart[],
  schema?: unknown,
): Promise<{ inputTokens: number; outputTokens: number }> {
  return { inputTokens: (await measurePrompt(req, parts, schema)).inputTokens, outputTokens: Math.ceil(answer.length / 4) };
}

export interface FakeUsage {
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
}

/** A Chat Completions response object. */
export function chatCompletionBody(n: number, model: unknown, answer: string, usage: FakeUsage, serviceTier: string): Record<string, unknown> {
  return {
    id: `chatcmpl-${n}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: {
      prompt_tokens: usage.inputTokens,
      completion_tokens: usage.outputTokens,
      total_tokens: usage.inputTokens + usage.outputTokens,
      prompt_tokens_details: { cached_tokens: usage.cachedTokens },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
    service_tier: serviceTier,
  };
}

/** A Responses API response object. */
/** Usage in the Responses API's shape (a response's, and a batch's total). */
export function responsesUsage(usage: FakeUsage): Record<string, unknown> {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

export function responseBody(n: number | string, model: unknown, answer: string, usage: FakeUsage, serviceTier: string): Record<string, unknown> {
  return {
    id: `resp_${n}`,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status: 'completed',
    error: null,
    incomplete_details: null,
    model,
    output: [{ type: 'message', id: `msg_${n}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: answer, annotations: [] }] }],
    usage: responsesUsage(usage),
    service_tier: serviceTier,
  };
}

export const ERROR_TYPES: Record<number, [type: string, code: string | null]> = {
  400: ['invalid_request_error', null],
  401: ['invalid_request_error', 'invalid_api_key'],
  403: ['invalid_request_error', 'unsupported_country_region_territory'],
  404: ['invalid_request_error', 'model_not_found'],
  429: ['requests', 'rate_limit_exceeded'],
  500: ['server_error', null],
  503: ['server_error', 'service_unavailable'],
};

/** OpenAI's error body for a status. */
export function errorBody(status: number, message: string, code?: string | null, param: string | null = null): { error: Record<string, unknown> } {
  const [type, defaultCode] = ERROR_TYPES[status] ?? (status >= 500 ? ['server_error', null] : ['invalid_request_error', null]);
  return { error: { message, type, param, code: code === undefined ? defaultCode : code } };
}
