// How a node in batch mode waits for Batch API results without holding up its partition:
// a record whose model calls are out is parked in the node's keyed state (written to its
// changelog in the same transaction as the input offset, so the offset moves on), and a
// punctuation re-runs the parked records of a partition once new results have come in,
// writing each finished record's outputs and deleting it from state in one transaction.
// A record whose calls failed for good is handed back as a punctuation failure (a dead
// letter). Past `maxWaiting` parked records the node pauses its input.
import { base64AsBytes, bytesAsBase64 } from '../../core/json-bytes';
import type { KeyedState } from '../../core/keyed-state';
import type { Emit, FlowControl, InputRecord, ProcessorContext, PunctuationFailure } from '../../core/processor';
import type { ParkedRecord } from '../../schemas/generated/types';
import type { BatchQueue } from './batch-queue';

export interface ParkingOptions<T> {
  ctx: ProcessorContext;
  queue: Promise<BatchQueue>;
  recheckMs: number;
  maxWaiting: number;
  /** Where the input pause for too many waiting records goes (one of flowSources). */
  flow: FlowControl;
  /** The outputs of a finished record, or null while its calls are out; throws when it failed for good. */
  attempt(rec: InputRecord<T>): Promise<Emit[] | null>;
  idOf(value: T): string;
}

/** Registers the re-run punctuation and returns the per-record step (outputs now, or parked). */
export function batchParking<T>(o: ParkingOptions<T>): (rec: InputRecord<T>) => Promise<Emit[]> {
  const state = o.ctx.state as KeyedState<ParkedRecord>;
  const partitions = new Set<number>();
  const recount = () => {
    let n = 0;
    for (const p of partitions) n += state.entries(p).length;
    if (n >= o.maxWaiting) o.flow.pause(`batch: ${n} records wait for Batch API results (maxWaiting ${o.maxWaiting})`);
    else o.flow.resume();
  };

  // Parked records run again only when results came in since their partition last looked.
  const lookedAt = new Map<number, number>();
  o.ctx.schedule(o.recheckMs, async (partition): Promise<{ emits: Emit[]; failures: PunctuationFailure[] }> => {
    partitions.add(partition);
    const queue = await o.queue;
    const parked = state.entries(partition);
    if (parked.length === 0 || lookedAt.get(partition) === queue.version) return { emits: [], failures: [] };
    lookedAt.set(partition, queue.version);
    const emits: Emit[] = [];
    const failures: PunctuationFailure[] = [];
    await Promise.all(
      parked.map(async ([id, pk]) => {
        const rec: InputRecord<T> = {
          key: pk.key,
          value: JSON.parse(pk.valueJson, base64AsBytes) as T,
          origin: { topic: pk.topic, partition: pk.partition, offset: String(pk.offset) },
          timestamp: pk.timestamp,
        };
        try {
          const out = await o.attempt(rec);
          if (!out) return;
          emits.push(...out);
        } catch (error) {
          failures.push({ input: rec as InputRecord<unknown>, error, attempts: 1 });
        }
        state.delete(partition, id);
      }),
    );
    // Requests these re-runs queued (the next stage's) go out now rather than after flushAfterMs.
    await queue.flushNow();
    recount();
    return { emits, failures };
  });

  return async (rec) => {
    const p = rec.origin.partition;
    partitions.add(p);
    const emits = await o.attempt(rec);
    if (emits) return emits;
    state.set(p, o.idOf(rec.value), {
      valueJson: JSON.stringify(rec.value, bytesAsBase64),
      key: rec.key,
      topic: rec.origin.topic,
      partition: p,
      offset: Number(rec.origin.offset),
      timestamp: rec.timestamp,
      parkedAt: o.ctx.clock.now(),
    });
    recount();
    return [];
  };
}
