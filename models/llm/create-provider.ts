// The provider section of a processor's config, and the factory that turns it into an
// LlmProvider. Keys never appear in config: only the name of the environment variable
// that holds them, so configs can be committed and logged.
import { z } from 'zod';
import { ConfigError } from '../../core/errors';
import { GeminiVertexProvider } from './gemini-vertex';
import { NO_API_KEY, OpenAIChatProvider } from './openai-chat';
import { OpenAIResponsesProvider } from './openai-responses';
import type { LlmProvider } from './provider';
import { serviceTierFields } from './flex-tier';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const effort = z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);
const maxOutputTokens = z.number().int().min(1).optional();
/** The SDK's own per-request timeout, behind ResilientProvider's deadline. */
const timeoutMs = z.number().int().min(100).optional();

const openaiResponses = z
  .object({
    kind: z.literal('openai-responses'),
    model: z.string().min(1).default('gpt-5-mini'),
    baseURL: z.string().url().optional(),
    apiKeyEnv: envName.default('OPENAI_API_KEY'),
    /** null: send no `reasoning` (models without it). */
    reasoningEffort: effort.nullable().default('medium'),
    maxOutputTokens,
    imageDetail: z.enum(['low', 'high', 'auto', 'original']).default('auto'),
    timeoutMs,
    ...serviceTierFields,
  })
  .strict();

const chatFields = {
  model: z.string().min(1).default('gpt-5-mini'),
  reasoningEffort: effort.optional(),
  maxOutputTokens,
  /** Some servers lack strict schemas: json_object or none put the schema in the prompt. */
  responseFormat: z.enum(['json_schema', 'json_object', 'none']).default('json_schema'),
  imageDetail: z.enum(['low', 'high', 'auto']).optional(),
  temperature: z.number().min(0).max(2).optional(),
  timeoutMs,
};

const openaiChat = z
  .object({
    kind: z.literal('openai-chat'),
    ...chatFields,
    baseURL: z.string().url().optional(),
    apiKeyEnv: envName.default('OPENAI_API_KEY'),
    maxTokensField: z.enum(['max_completion_tokens', 'max_tokens']).default('max_completion_tokens'),
  })
  .strict();

const openaiCompatible = z
  .object({
    kind: z.literal('openai-compatible'),
    ...chatFields,
    /** vLLM: http://host:8000/v1, Ollama: http://host:11434/v1. */
    baseURL: z.string().url(),
    /** Optional: vLLM and Ollama run without keys; when named, the variable must be set. */
    apiKeyEnv: envName.optional(),
    // The field every compatible server understands.
    maxTokensField: z.enum(['max_completion_tokens', 'max_tokens']).default('max_tokens'),
  })
  .strict();

const geminiVertex = z
  .object({
    kind: z.literal('gemini-vertex'),
    model: z.string().min(1).default('gemini-2.5-flash'),
    /** Defaults to $GOOGLE_CLOUD_PROJECT. */
    project: z.string().min(1).optional(),
    location: z.string().min(1).default('us-central1'),
    baseURL: z.string().url().optional(),
    apiVersion: z.string().min(1).optional(),
    /** Name of a variable holding an OAuth access token, used instead of ADC (tests, short jobs). */
    accessTokenEnv: envName.optional(),
    /** A service-account key file instead of ADC. */
    keyFile: z.string().min(1).optional(),
    maxOutputTokens,
    thinkingBudget: z.number().int().min(0).optional(),
    timeoutMs,
  })
  .strict();

export const providerConfig = z.discriminatedUnion('kind', [openaiResponses, openaiChat, openaiCompatible, geminiVertex]);
export type ProviderConfig = z.infer<typeof providerConfig>;
export type ProviderConfigInput = z.input<typeof providerConfig>;

function requireEnv(env: NodeJS.ProcessEnv, field: string, name: string, what: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`provider.${field}: environment variable ${name} is not set (it should hold ${what})`);
  return value;
}

/** Builds the provider a config describes. Throws ConfigError naming the field at fault. */
export function createProvider(config: ProviderConfigInput, env: NodeJS.ProcessEnv = process.env): LlmProvider {
  const parsed = providerConfig.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `provider.${i.path.join('.') || 'kind'}: ${i.message}`);
    throw new ConfigError(`invalid provider config: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  switch (c.kind) {
    case 'openai-responses':
      return new OpenAIResponsesProvider({
        model: c.model,
        apiKey: requireEnv(env, 'apiKeyEnv', c.apiKeyEnv, `the API key for ${c.kind}`),
        baseURL: c.baseURL,
        reasoningEffort: c.reasoningEffort,
        maxOutputTokens: c.maxOutputTokens,
        imageDetail: c.imageDetail,
        timeoutMs: c.timeoutMs,
        serviceTier: c.serviceTier,
        flexFallbackAfterMs: c.flexFallbackAfterMs,
        flexTimeoutMs: c.flexTimeoutMs,
      });
    case 'openai-chat':
    case 'openai-compatible':
      return new OpenAIChatProvider({
        kind: c.kind,
        model: c.model,
        apiKey: c.apiKeyEnv ? requireEnv(env, 'apiKeyEnv', c.apiKeyEnv, `the API key for ${c.kind}`) : NO_API_KEY,
        baseURL: c.baseURL,
        responseFormat: c.responseFormat,
        maxTokensField: c.maxTokensField,
        reasoningEffort: c.reasoningEffort,
        imageDetail: c.imageDetail,
        temperature: c.temperature,
        maxOutputTokens: c.maxOutputTokens,
        timeoutMs: c.timeoutMs,
      });
    case 'gemini-vertex': {
      const project = c.project ?? env.GOOGLE_CLOUD_PROJECT;
      if (!project) throw new ConfigError('provider.project: not set, and GOOGLE_CLOUD_PROJECT is empty (the Google Cloud project that runs Vertex AI)');
      if (c.accessTokenEnv && c.keyFile) throw new ConfigError('provider.accessTokenEnv and provider.keyFile: give one credential, not both');
      return new GeminiVertexProvider({
        model: c.model,
        project,
        location: c.location,
        baseURL: c.baseURL,
        apiVersion: c.apiVersion,
        accessToken: c.accessTokenEnv ? requireEnv(env, 'accessTokenEnv', c.accessTokenEnv, 'an OAuth access token for Vertex AI') : undefined,
        keyFile: c.keyFile,
        maxOutputTokens: c.maxOutputTokens,
        thinkingBudget: c.thinkingBudget,
        timeoutMs: c.timeoutMs,
      });
    }
  }
}
