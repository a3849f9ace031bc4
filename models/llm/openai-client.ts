// The openai SDK client both OpenAI providers use: SDK retries off (ResilientProvider
// retries, so every provider behaves the same), and the SDK's own timeout only as a
// backstop behind our deadline.
import OpenAI from 'openai';

export function openaiClient(apiKey: string, baseURL: string | undefined, timeoutMs: number | undefined): OpenAI {
  return new OpenAI({
    apiKey,
    baseURL,
    maxRetries: 0,
    // Our deadline (linkSignal) fires first; the SDK's is only a later backstop.
    ...(timeoutMs ? { timeout: timeoutMs + 1000 } : {}),
  });
}
