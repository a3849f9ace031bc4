// Prompt caching as the providers document it: a request reuses the longest prefix it shares
// with a prompt the same model saw before, counted only from 1024 tokens and in steps of 128
// (OpenAI). The first request with a prefix pays in full; it is remembered so later ones hit.
// Matching is by content only; prompt_cache_key is recorded by the servers, not used here.
import { createHash } from 'node:crypto';

/** One unit of a prompt: text (partly shareable) or an image (shared whole or not at all). */
export type PromptSegment = { kind: 'text'; text: string } | { kind: 'image'; key: string; tokens: number };

export const MIN_CACHED_PREFIX = 1024;
export const CACHE_STEP = 128;

export const textSegment = (text: string): PromptSegment => ({ kind: 'text', text });

/** An image segment; equal bytes give the same key, so only the same image matches. */
export function imageSegment(image: Buffer, tokens: number): PromptSegment {
  return { kind: 'image', key: createHash('sha256').update(image).digest('hex'), tokens };
}

export function segmentTokens(s: PromptSegment): number {
  return s.kind === 'text' ? Math.ceil(s.text.length / 4) : s.tokens;
}

function commonChars(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * Tokens two prompts share from the start: whole identical segments, then, at the first
 * difference, the common characters of two texts (a token per 4); an image never half-matches.
 */
export function commonPrefixTokens(a: readonly PromptSegment[], b: readonly PromptSegment[]): number {
  let tokens = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.kind === 'image' && y.kind === 'image' && x.key === y.key) tokens += x.tokens;
    else if (x.kind === 'text' && y.kind === 'text' && x.text === y.text) tokens += segmentTokens(x);
    else {
      if (x.kind === 'text' && y.kind === 'text') tokens += Math.floor(commonChars(x.text, y.text) / 4);
      break;
    }
  }
  return tokens;
}

/** What a shared prefix earns: nothing under 1024 tokens, else whole steps of 128, at most the input. */
export function cachedTokensFor(prefixTokens: number, inputTokens: number): number {
  if (prefixTokens < MIN_CACHED_PREFIX) return 0;
  return Math.min(Math.floor(prefixTokens / CACHE_STEP) * CACHE_STEP, inputTokens);
}

export interface PromptCacheOptions {
  /** Prompts unused this long are forgotten; default never. */
  ttlMs?: number;
  /** Per model, the most prompts kept (least recently used go first). */
  maxEntriesPerModel?: number;
  now?: () => number;
}

export interface UsageTotals {
  /** Answers served (HTTP 200 or a batch line that succeeded). */
  requests: number;
  inputTokens: number;
  /** Of inputTokens, those served from the prompt cache. */
  cachedTokens: number;
  outputTokens: number;
}

export const emptyUsageTotals = (): UsageTotals => ({ requests: 0, inputTokens: 0, cachedTokens: 0, outputTokens: 0 });

export function addUsage(totals: UsageTotals, u: { inputTokens: number; cachedTokens: number; outputTokens: number }): void {
  totals.requests++;
  totals.inputTokens += u.inputTokens;
  totals.cachedTokens += u.cachedTokens;
  totals.outputTokens += u.outputTokens;
}

interface Entry {
  segments: PromptSegment[];
  usedAt: number;
}

export class FakePromptCache {
  private readonly byModel = new Map<string, Entry[]>();
  private readonly now: () => number;

  constructor(private readonly opts: PromptCacheOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The cached tokens of a request that is being served, which is then remembered. Call it
   * only for answered requests: a refused one was never processed, so it warms nothing.
   */
  serve(model: string, segments: PromptSegment[], inputTokens: number): number {
    const now = this.now();
    const ttl = this.opts.ttlMs;
    const entries = (this.byModel.get(model) ?? []).filter((e) => ttl === undefined || now - e.usedAt < ttl);
    let best: Entry | undefined;
    let bestTokens = 0;
    for (const e of entries) {
      const t = commonPrefixTokens(e.segments, segments);
      if (t > bestTokens) [best, bestTokens] = [e, t];
    }
    const cached = cachedTokensFor(bestTokens, inputTokens);
    if (best && cached > 0) best.usedAt = now;
    const total = segments.reduce((s, x) => s + segmentTokens(x), 0);
    // The same prompt again refreshes its entry instead of adding a copy.
    if (best && bestTokens === total && best.segments.length === segments.length) best.usedAt = now;
    else entries.push({ segments, usedAt: now });
    const max = this.opts.maxEntriesPerModel ?? 10_000;
    if (entries.length > max) entries.sort((a, b) => b.usedAt - a.usedAt).splice(max);
    this.byModel.set(model, entries);
    return cached;
  }

  /** Forgets every prompt (a cold cache). */
  clear(): void {
    this.byModel.clear();
  }
}
