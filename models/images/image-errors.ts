// How a failed image load is reported, shared by the address policy, the HTTP fetch and the
// intake: refused for good (a dead letter) or transient (retried), naming the source safely.
import { ProcessingError, ValidationError } from '../../core/errors';

/** The image is refused for good: another attempt would get the same answer. */
export class ImageRefusedError extends ValidationError {
  constructor(
    readonly source: string,
    readonly reason: string,
    opts: { cause?: unknown } = {},
  ) {
    super(`image refused (${source}): ${reason}`, opts);
  }
}

export function transient(source: string, reason: string, cause?: unknown): ProcessingError {
  return new ProcessingError(`image load failed (${source}): ${reason}`, { retriable: true, cause });
}

/** A URL without userinfo, query or fragment, which may carry secrets (signed URLs, tokens). */
export function redactUrl(u: string | URL): string {
  try {
    const url = typeof u === 'string' ? new URL(u) : u;
    return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
  } catch {
    return '<invalid URL>';
  }
}

/** A file system error as a refusal (the file is not there or not readable) or a transient failure. */
export function fsError(err: unknown, display: string): unknown {
  if (err instanceof ImageRefusedError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new ImageRefusedError(display, 'file not found', { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new ImageRefusedError(display, 'permission denied', { cause: err });
  if (code === 'ELOOP') return new ImageRefusedError(display, 'symlink loop', { cause: err });
  if (code === 'EISDIR') return new ImageRefusedError(display, 'not a regular file', { cause: err });
  if ((err as Error).name === 'AbortError') return err;
  return transient(display, `cannot read file: ${(err as Error).message}`, err);
}
