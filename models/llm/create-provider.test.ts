import { ConfigError } from '../../core/errors';
import { FakeGeminiServer } from '../../test/fakes/fake-gemini-server';
import { FakeOpenAIServer } from '../../test/fakes/fake-openai-server';
import { createProvider, providerConfig } from './create-provider';
import { GeminiVertexProvider } from './gemini-vertex';
import { OpenAIChatProvider } from './openai-chat';
import { OpenAIResponsesProvider } from './openai-responses';

describe('providerConfig', () => {
  it('defaults per kind', () => {
    expect(providerConfig.parse({ kind: 'openai-responses' })).toEqual({
      kind: 'openai-responses',
      model: 'gpt-5-mini',
      apiKeyEnv: 'OPENAI_API_KEY',
      reasoningEffort: 'medium',
      imageDetail: 'auto',
      serviceTier: 'default',
      flexFallbackAfterMs: 1_000,
      flexTimeoutMs: 900_000,
    });
    expect(providerConfig.parse({ kind: 'openai-chat' })).toMatchObject({
      model: 'gpt-5-mini',
      apiKeyEnv: 'OPENAI_API_KEY',
      responseFormat: 'json_schema',
      maxTokensField: 'max_completion_tokens',
    });
    const compat = providerConfig.parse({ kind: 'openai-compatible', baseURL: 'http://127.0.0.1:8000/v1' });
    expect(compat).toMatchObject({ maxTokensField: 'max_tokens', responseFormat: 'json_schema' });
    expect(compat).not.toHaveProperty('apiKeyEnv');
    expect(providerConfig.parse({ kind: 'gemini-vertex' })).toEqual({ kind: 'gemini-vertex', model: 'gemini-2.5-flash', location: 'us-central1' });
    // As the verify processor uses it: a defaulted nested object.
    expect(providerConfig.prefault({ kind: 'openai-responses' }).parse(undefined)).toMatchObject({ kind: 'openai-responses', model: 'gpt-5-mini' });
  });

  it('refuses unknown kinds, unknown keys and keys in config', () => {
    expect(() => providerConfig.parse({ kind: 'anthropic' })).toThrow();
    expect(() => providerConfig.parse({ kind: 'openai-responses', apiKey: 'sk-x' })).toThrow(/apiKey/);
    expect(() => providerConfig.parse({ kind: 'openai-compatible' })).toThrow(/baseURL/);
    expect(() => providerConfig.parse({ kind: 'openai-chat', apiKeyEnv: 'not a name' })).toThrow(/environment variable/);
    expect(() => providerConfig.parse({ kind: 'openai-chat', imageDetail: 'original' })).toThrow();
  });
});

describe('createProvider', () => {
  it('builds each kind', () => {
    const env = { OPENAI_API_KEY: 'sk-abc', GOOGLE_CLOUD_PROJECT: 'proj' };
    const r = createProvider({ kind: 'openai-responses' }, env);
    expect(r).toBeInstanceOf(OpenAIResponsesProvider);
    expect(r).toMatchObject({ kind: 'openai-responses', model: 'gpt-5-mini' });
    expect(createProvider({ kind: 'openai-chat', model: 'gpt-5' }, env)).toMatchObject({ kind: 'openai-chat', model: 'gpt-5' });
    const c = createProvider({ kind: 'openai-compatible', baseURL: 'http://127.0.0.1:11434/v1', model: 'qwen2.5vl:7b' }, {});
    expect(c).toBeInstanceOf(OpenAIChatProvider);
    expect(c.kind).toBe('openai-compatible');
    // No credentials in the environment: the provider is built; ADC is looked up on the first call.
    const g = createProvider({ kind: 'gemini-vertex' }, env);
    expect(g).toBeInstanceOf(GeminiVertexProvider);
    expect(g).toMatchObject({ kind: 'gemini-vertex', model: 'gemini-2.5-flash' });
    // The key is in no enumerable field.
    expect(JSON.stringify(r)).not.toContain('sk-abc');
  });

  it.each([
    [{ kind: 'openai-responses' }, {}, /provider\.apiKeyEnv: environment variable OPENAI_API_KEY is not set/],
    [{ kind: 'openai-chat', apiKeyEnv: 'MY_KEY' }, {}, /provider\.apiKeyEnv: environment variable MY_KEY is not set/],
    [{ kind: 'openai-compatible', baseURL: 'http://127.0.0.1:1/v1', apiKeyEnv: 'VLLM_KEY' }, {}, /VLLM_KEY is not set/],
    [{ kind: 'gemini-vertex' }, {}, /provider\.project: not set, and GOOGLE_CLOUD_PROJECT is empty/],
    [{ kind: 'gemini-vertex', project: 'p', accessTokenEnv: 'TOKEN' }, {}, /provider\.accessTokenEnv: environment variable TOKEN is not set/],
    [{ kind: 'gemini-vertex', project: 'p', accessTokenEnv: 'T', keyFile: '/k.json' }, { T: 'x' }, /one credential/],
    [{ kind: 'openai-chat', maxOutputTokens: 0 }, { OPENAI_API_KEY: 'k' }, /provider\.maxOutputTokens/],
    [{ kind: 'nope' }, {}, /invalid provider config: provider\.kind/],
  ])('%j with env %j -> ConfigError %s', (config, env, message) => {
    const err = (() => {
      try {
        createProvider(config as never, env);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });

  it('end to end: openai kinds against the fake OpenAI server, gemini against the fake Vertex server', async () => {
    const openai = new FakeOpenAIServer({ oracle: (r) => `{"endpoint":"${r.endpoint}"}` });
    const gemini = new FakeGeminiServer({
      oracle: (r) => `{"endpoint":"${r.endpoint}","project":"${(r as { project?: string }).project}"}`,
      requireToken: 'ya29.token-from-env',
    });
    const baseURL = await openai.start();
    const geminiURL = await gemini.start();
    try {
      const env = { OPENAI_API_KEY: 'sk-e2e-0123456789', VERTEX_TOKEN: 'ya29.token-from-env', GOOGLE_CLOUD_PROJECT: 'from-env' };
      const parts = [{ type: 'text' as const, text: 'hi' }];
      expect((await createProvider({ kind: 'openai-responses', baseURL }, env).complete({ parts })).text).toBe('{"endpoint":"responses"}');
      expect((await createProvider({ kind: 'openai-chat', baseURL }, env).complete({ parts })).text).toBe('{"endpoint":"chat"}');
      expect((await createProvider({ kind: 'openai-compatible', baseURL, model: 'local' }, {}).complete({ parts })).model).toBe('local');
      const g = createProvider({ kind: 'gemini-vertex', baseURL: geminiURL, accessTokenEnv: 'VERTEX_TOKEN', location: 'europe-west4' }, env);
      expect((await g.complete({ parts })).text).toBe('{"endpoint":"gemini","project":"from-env"}');
      expect(gemini.calls[0]).toMatchObject({ project: 'from-env', location: 'europe-west4' });
      expect(openai.calls.map((c) => c.authorization)).toEqual(['Bearer sk-e2e-0123456789', 'Bearer sk-e2e-0123456789', 'Bearer EMPTY']);
    } finally {
      await openai.close();
      await gemini.close();
    }
  });
});
