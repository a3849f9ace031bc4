// kafkajs reports a commit refused by a rebalance in several shapes, sometimes wrapped.
/** Errors that mean the group moved to a new generation: the commit is moot, not failed. */
const GENERATION_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

export function isGenerationError(err: unknown): boolean {
  let e = err as { type?: string; originalError?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (e.type && GENERATION_ERRORS.has(e.type)) return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}
