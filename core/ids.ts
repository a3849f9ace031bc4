import { createHash } from 'node:crypto';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A deterministic id from its parts. Outputs derived from the same input get the same id
 * on every run, which makes at-least-once delivery idempotent downstream and replays
 * comparable.
 */
export function deterministicId(prefix: string, ...parts: Array<string | number>): string {
  return `${prefix}-${sha256Hex(parts.join('\u0000')).slice(0, 24)}`;
}
