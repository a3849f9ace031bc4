import { z } from 'zod';
import { llmNodeConfig, llmNodeShape, nodeProvider, providerWithDefaults, renamedFields } from './llm-node-config';
import { Resources } from '../../core/resources';

describe('the config of a node that calls a model', () => {
  it('defaults provider, limits and leaves prices and maxOutputTokens unset', () => {
    const c = llmNodeConfig({ provider: { kind: 'openai-responses' } }).parse({});
    expect(c.provider).toMatchObject({ kind: 'openai-responses', model: 'gpt-5-mini', apiKeyEnv: 'OPENAI_API_KEY' });
    expect(c.limits).toMatchObject({ concurrency: 32, timeoutMs: 60_000, maxAttempts: 8, backoff: { initialDelayMs: 500 }, breaker: { failureThreshold: 5 } });
    expect(c.prices).toBeUndefined();
    expect(c.maxOutputTokens).toBeUndefined();
  });

  it('fills a given provider of the default kind with the defaults it leaves out, and no other', () => {
    const p = providerWithDefaults({ kind: 'openai-compatible', model: 'Qwen/Qwen3-8B' });
    expect(p.parse({ kind: 'openai-compatible', baseURL: 'http://h:8000/v1' })).toMatchObject({ model: 'Qwen/Qwen3-8B' });
    expect(p.parse({ kind: 'openai-compatible', baseURL: 'http://h:8000/v1', model: 'm' })).toMatchObject({ model: 'm' });
    expect(p.parse({ kind: 'openai-chat' })).toMatchObject({ kind: 'openai-chat', model: 'gpt-5-mini' });
    // The kind is never guessed.
    expect(p.safeParse({ baseURL: 'http://h:8000/v1' }).success).toBe(false);
  });

  it('is strict, and a node extends it with fields of its own', () => {
    const node = z.object({ ...llmNodeShape({ provider: { kind: 'gemini-vertex' } }), concurrency: z.number().default(4) }).strict();
    expect(node.parse({})).toMatchObject({ provider: { kind: 'gemini-vertex' }, concurrency: 4 });
    expect(node.safeParse({ nope: 1 }).error?.issues[0]?.message).toMatch(/nope/);
    const extended = llmNodeConfig({ provider: { kind: 'gemini-vertex' } }).extend({ x: z.number().optional() });
    expect(extended.safeParse({ nope: 1 }).success).toBe(false);
  });

  it('refuses renamed fields with the new name, next to any other problem', () => {
    const node = llmNodeConfig({ provider: { kind: 'gemini-vertex' } }).extend(renamedFields({ judge: 'provider' }));
    const r = node.safeParse({ judge: { kind: 'gemini-vertex' }, maxOutputTokens: 1 });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).sort()).toEqual([
      'judge: judge was renamed to provider',
      expect.stringMatching(/^maxOutputTokens: /),
    ]);
    const nested = z.object(renamedFields({ baseUrl: 'provider.baseURL' }, 'planner.'));
    expect(nested.safeParse({ baseUrl: 'x' }).error!.issues[0]!.message).toBe('planner.baseUrl was renamed to planner.provider.baseURL');
    expect(nested.parse({})).toEqual({});
  });

  it('gives nodes with the same provider, limits and prices one ResilientProvider', () => {
    const schema = llmNodeConfig({ provider: { kind: 'openai-compatible' } });
    const a = schema.parse({ provider: { kind: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1' } });
    const b = schema.parse({ provider: { kind: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1' }, maxOutputTokens: 64 });
    const c = schema.parse({ provider: { kind: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1' }, limits: { concurrency: 2 } });
    const resources = new Resources();
    expect(nodeProvider(resources, a)).toBe(nodeProvider(resources, b));
    expect(nodeProvider(resources, c)).not.toBe(nodeProvider(resources, a));
    expect(nodeProvider(resources, c).config.concurrency).toBe(2);
    // Another runtime's resources share nothing with these.
    expect(nodeProvider(new Resources(), a)).not.toBe(nodeProvider(resources, a));
  });
});
