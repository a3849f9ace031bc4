// Errors say what went wrong and whether trying again could help (as kafkajs errors do),
// so the runtimes can choose between retry and the dead-letter topic.

export class ValorError extends Error {
  readonly retriable: boolean;
  constructor(message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.retriable = opts.retriable ?? false;
  }
}

/** Bytes that are not a Confluent-framed Avro value of the topic's type. */
export class DecodeError extends ValorError {}

/** A decoded value or an output that breaks its schema or the processor's rules. */
export class ValidationError extends ValorError {}

/** A processor failed on a record; `retriable` says whether another attempt may succeed. */
export class ProcessingError extends ValorError {}

/** Bad configuration: the message names the field. Raised at start-up, never per record. */
export class ConfigError extends ValorError {}

/** A topology that does not hold together (dangling topics, type mismatches). */
export class TopologyError extends ValorError {
  constructor(readonly problems: string[]) {
    super(`invalid topology:\n  - ${problems.join('\n  - ')}`);
  }
}

export function isRetriable(err: unknown): boolean {
  if (err instanceof ValorError) return err.retriable;
  // Network-level failures from fetch/http clients are worth another try.
  const code = (err as { code?: string } | null)?.code;
  return code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'ECONNREFUSED' || code === 'EAI_AGAIN';
}

export function errorClass(err: unknown): string {
  if (err instanceof Error) return err.name || err.constructor.name;
  return typeof err;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
