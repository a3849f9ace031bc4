// Enough of a kafkajs consumer for the training consumer's tests, without a broker.
import type { EachBatchPayload } from 'kafkajs';

export const TOPIC = 'valor.test-queries';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface StoredMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
}

/**
 * Enough of a kafkajs consumer to drive eachBatch the way kafkajs does: per-partition fetch
 * positions that resolveOffset moves, re-reads from the committed offset on every join,
 * pause/resume, and commits recorded per partition.
 */
export class FakeConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join', REBALANCING: 'consumer.rebalancing', CRASH: 'consumer.crash' };
  readonly committed = new Map<number, bigint>();
  readonly commitCalls: Array<Array<{ partition: number; offset: string }>> = [];
  paused = false;
  pauseCalls = 0;
  heartbeats = 0;
  running = false;
  disconnected = false;
  subscribed?: { topics: string[]; fromBeginning?: boolean };
  runConfig?: Record<string, unknown>;
  private readonly listeners = new Map<string, Array<(e: unknown) => void>>();
  private readonly position = new Map<number, bigint>();
  private rebalanceRequested = false;
  private loopDone?: Promise<void>;

  constructor(
    readonly log: Map<number, StoredMessage[]>,
    readonly fetchSize = 4,
  ) {}

  on(event: string, fn: (e: unknown) => void): void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
  }
  private emit(event: string, payload: unknown): void {
    for (const fn of this.listeners.get(event) ?? []) fn({ payload });
  }
  async connect(): Promise<void> {}
  async subscribe(s: { topics: string[]; fromBeginning?: boolean }): Promise<void> {
    this.subscribed = s;
  }
  async run(config: { eachBatch: (p: EachBatchPayload) => Promise<void> } & Record<string, unknown>): Promise<void> {
    this.runConfig = config;
    this.running = true;
    this.join();
    this.loopDone = this.loop(config.eachBatch);
  }
  pause(): void {
    this.paused = true;
    this.pauseCalls++;
  }
  resume(): void {
    this.paused = false;
  }
  async commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void> {
    this.commitCalls.push(offsets.map(({ partition, offset }) => ({ partition, offset })));
    for (const o of offsets) this.committed.set(o.partition, BigInt(o.offset));
  }
  async disconnect(): Promise<void> {
    this.running = false;
    this.disconnected = true;
    await this.loopDone;
  }
  rebalance(): void {
    this.rebalanceRequested = true;
  }
  committedOf(partition: number): string | undefined {
    return this.committed.get(partition)?.toString();
  }

  private join(): void {
    this.position.clear();
    for (const p of this.log.keys()) this.position.set(p, this.committed.get(p) ?? 0n);
    this.emit(this.events.GROUP_JOIN, { memberAssignment: { [TOPIC]: [...this.log.keys()] } });
  }

  private async loop(eachBatch: (p: EachBatchPayload) => Promise<void>): Promise<void> {
    while (this.running) {
      if (this.rebalanceRequested) {
        this.rebalanceRequested = false;
        this.emit(this.events.REBALANCING, {});
        this.join();
      }
      let delivered = false;
      for (const [partition, messages] of this.paused ? [] : this.log) {
        const from = Number(this.position.get(partition) ?? 0n);
        const slice = messages.slice(from, from + this.fetchSize);
        if (!slice.length) continue;
        delivered = true;
        await eachBatch({
          batch: { topic: TOPIC, partition, messages: slice, lastOffset: () => slice[slice.length - 1]!.offset },
          resolveOffset: (offset: string) => this.position.set(partition, BigInt(offset) + 1n),
          heartbeat: async () => void this.heartbeats++,
          isRunning: () => this.running,
          isStale: () => false,
        } as unknown as EachBatchPayload);
        if (!this.running) return;
      }
      await sleep(delivered ? 0 : 5);
    }
  }
}
