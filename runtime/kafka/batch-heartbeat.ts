// kafkajs heartbeats only between batches. Everything a batch handler waits for (a lock,
// a start-offset check, a state restore, recovering a sink's files, the work itself) must
// beat by itself, or a wait longer than the session timeout drops the member from its
// group and starts a rebalance for everyone.

/** Runs `work` while sending a heartbeat every `everyMs`; a failed beat (a rebalance) is left to kafkajs. */
export async function whileBeating<T>(heartbeat: () => Promise<void>, everyMs: number, work: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => heartbeat().catch(() => undefined), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}
