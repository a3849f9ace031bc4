"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.providerConfig = void 0;
exports.createProvider = createProvider;
// The provider section of a processor's config, and the factory that turns it into an
// LlmProvider. Keys never appear in config: only the name of the environment variable
// that holds them, so configs can be committed and logged.
const zod_1 = require("zod");
const errors_1 = require("../../core/errors");
const gemini_vertex_1 = require("./gemini-vertex");
const openai_chat_1 = require("./openai-chat");
const openai_responses_1 = require("./openai-responses");
const envName = zod_1.z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const effort = zod_1.z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);
const maxOutputTokens = zod_1.z.number().int().min(1).optional();
/** The SDK's own per-request timeout, behind ResilientProvider's deadline. */
const timeoutMs = zod_1.z.number().int().min(100).optional();
const openaiResponses = zod_1.z
    .object({
    kind: zod_1.z.literal('openai-responses'),
    model: zod_1.z.string().min(1).default('gpt-5-mini'),
    baseURL: zod_1.z.string().url().optional(),
    apiKeyEnv: envName.default('OPENAI_API_KEY'),
    /** null: send no `reasoning` (models without it). */
    reasoningEffort: effort.nullable().default('medium'),
    maxOutputTokens,
    imageDetail: zod_1.z.enum(['low', 'high', 'auto', 'original']).default('auto'),
    timeoutMs,
})
    .strict();
const chatFields = {
    model: zod_1.z.string().min(1).default('gpt-5-mini'),
    reasoningEffort: effort.optional(),
    maxOutputTokens,
    /** Some servers lack strict schemas: json_object or none put the schema in the prompt. */
    responseFormat: zod_1.z.enum(['json_schema', 'json_object', 'none']).default('json_schema'),
    imageDetail: zod_1.z.enum(['low', 'high', 'auto']).optional(),
    temperature: zod_1.z.number().min(0).max(2).optional(),
    timeoutMs,
};
const openaiChat = zod_1.z
    .object({
    kind: zod_1.z.literal('openai-chat'),
    ...chatFields,
    baseURL: zod_1.z.string().url().optional(),
    apiKeyEnv: envName.default('OPENAI_API_KEY'),
    maxTokensField: zod_1.z.enum(['max_completion_tokens', 'max_tokens']).default('max_completion_tokens'),
})
    .strict();
const openaiCompatible = zod_1.z
    .object({
    kind: zod_1.z.literal('openai-compatible'),
    ...chatFields,
    /** vLLM: http://host:8000/v1, Ollama: http://host:11434/v1. */
    baseURL: zod_1.z.string().url(),
    /** Optional: vLLM and Ollama run without keys; when named, the variable must be set. */
    apiKeyEnv: envName.optional(),
    // The field every compatible server understands.
    maxTokensField: zod_1.z.enum(['max_completion_tokens', 'max_tokens']).default('max_tokens'),
})
    .strict();
const geminiVertex = zod_1.z
    .object({
    kind: zod_1.z.literal('gemini-vertex'),
    model: zod_1.z.string().min(1).default('gemini-2.5-flash'),
    /** Defaults to $GOOGLE_CLOUD_PROJECT. */
    project: zod_1.z.string().min(1).optional(),
    location: zod_1.z.string().min(1).default('us-central1'),
    baseURL: zod_1.z.string().url().optional(),
    apiVersion: zod_1.z.string().min(1).optional(),
    /** Name of a variable holding an OAuth access token, used instead of ADC (tests, short jobs). */
    accessTokenEnv: envName.optional(),
    /** A service-account key file instead of ADC. */
    keyFile: zod_1.z.string().min(1).optional(),
    maxOutputTokens,
    thinkingBudget: zod_1.z.number().int().min(0).optional(),
    timeoutMs,
})
    .strict();
exports.providerConfig = zod_1.z.discriminatedUnion('kind', [openaiResponses, openaiChat, openaiCompatible, geminiVertex]);
function requireEnv(env, field, name, what) {
    const value = env[name];
    if (!value)
        throw new errors_1.ConfigError(`provider.${field}: environment variable ${name} is not set (it should hold ${what})`);
    return value;
}
/** Builds the provider a config describes. Throws ConfigError naming the field at fault. */
function createProvider(config, env = process.env) {
    const parsed = exports.providerConfig.safeParse(config);
    if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `provider.${i.path.join('.') || 'kind'}: ${i.message}`);
        throw new errors_1.ConfigError(`invalid provider config: ${problems.join('; ')}`);
    }
    const c = parsed.data;
    switch (c.kind) {
        case 'openai-responses':
            return new openai_responses_1.OpenAIResponsesProvider({
                model: c.model,
                apiKey: requireEnv(env, 'apiKeyEnv', c.apiKeyEnv, `the API key for ${c.kind}`),
                baseURL: c.baseURL,
                reasoningEffort: c.reasoningEffort,
                maxOutputTokens: c.maxOutputTokens,
                imageDetail: c.imageDetail,
                timeoutMs: c.timeoutMs,
            });
        case 'openai-chat':
        case 'openai-compatible':
            return new openai_chat_1.OpenAIChatProvider({
                kind: c.kind,
                model: c.model,
                apiKey: c.apiKeyEnv ? requireEnv(env, 'apiKeyEnv', c.apiKeyEnv, `the API key for ${c.kind}`) : openai_chat_1.NO_API_KEY,
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
            if (!project)
                throw new errors_1.ConfigError('provider.project: not set, and GOOGLE_CLOUD_PROJECT is empty (the Google Cloud project that runs Vertex AI)');
            if (c.accessTokenEnv && c.keyFile)
                throw new errors_1.ConfigError('provider.accessTokenEnv and provider.keyFile: give one credential, not both');
            return new gemini_vertex_1.GeminiVertexProvider({
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
//# sourceMappingURL=create-provider.js.map