import pino from 'pino';

// Keys whose values are secrets anywhere in a log object; pino replaces them.
const REDACT = [
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'api_key',
  '*.api_key',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'password',
  '*.password',
  'sasl.password',
  '*.sasl.password',
  'token',
  '*.token',
];

export type Logger = pino.Logger;

export function createLogger(name: string, level = process.env.VALOR_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } }, pino.destination(2));
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
