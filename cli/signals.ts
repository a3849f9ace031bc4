import type { Logger } from '../core/logger';

/**
 * Runs `shutdown` once on SIGTERM/SIGINT (or when the returned function is called), then
 * exits 0: the runtimes and sinks commit or publish what they hold before the process goes.
 */
export function stopOnSignals(logger: Logger, what: string, shutdown: () => Promise<void>): (reason: string) => Promise<void> {
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, what);
    await shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return stop;
}
