// A file sink over the embedded runtime's log: the same PartitionSink (files, resume from
// files, de-duplication, dead letters) as on Kafka, fed from the in-process topic.
import type { Logger } from '../../core/logger';
import type { EmbeddedRuntime } from '../../runtime/embedded/embedded-runtime';
import { deadLetterKey, deadLetterRecord } from '../../runtime/dead-letter';
import { addCounts, PartitionSink, SinkFormat, SinkRecord } from './partition-sink';
import type { ShardStorage } from './shard-storage';
import type { ShardRotation } from './shard-writer';
import type { StreamMetrics } from '../../runtime/metrics/stream-metrics';

export async function runEmbeddedSink<T>(opts: {
  runtime: EmbeddedRuntime;
  topic: string;
  storage: ShardStorage;
  shardDir: string;
  format: SinkFormat<T>;
  rotation?: ShardRotation;
  logger: Logger;
  /**
   * The log is this run's only (an embedded run starts a fresh log each time): its records
   * are numbered on from the offset the files end at, so a re-run's records are new records
   * that signature de-duplication drops when already written, rather than offsets the files
   * already hold (which would skip new work).
   */
  continueFiles?: boolean;
  /** Records, dead letters and shards as node `sink.<format>`; none by default. */
  metrics?: StreamMetrics;
}): Promise<{ written: number; duplicates: number; skipped: number; deadLettered: number; shards: number }> {
  const { runtime, topic } = opts;
  const serde = runtime.serdes.for<T>(topic);
  const totals = { written: 0, duplicates: 0, skipped: 0, deadLettered: 0, shards: 0 };
  const metrics = opts.metrics?.node(`sink.${opts.format.name}`);
  for (let p = 0; p < runtime.log.partitions(topic); p++) {
    const sink = await PartitionSink.open<T>({
      storage: opts.storage,
      dir: opts.shardDir,
      topic,
      partition: p,
      format: opts.format,
      rotation: opts.rotation,
      logger: opts.logger,
      deadLetter: async (r, err) => {
        const m = { topic, partition: p, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.raw };
        const dl = deadLetterRecord(`sink.${opts.format.name}`, m, err, 1, Date.now());
        opts.logger.warn({ topic, partition: p, offset: r.offset, reason: dl.reason }, 'record dead-lettered by the sink');
        metrics?.deadLettered(dl.errorClass);
        await runtime.produce(runtime.topology.deadLetterTopic, [{ key: deadLetterKey(m), value: dl }]);
      },
    });
    const resume = sink.resumeOffset === null ? 0 : Number(sink.resumeOffset);
    const [from, base] = opts.continueFiles ? [0, resume] : [resume, 0];
    const records: Array<SinkRecord<T>> = [];
    for (const e of runtime.log.read(topic, p, from, Number.MAX_SAFE_INTEGER)) {
      const r: SinkRecord<T> = { offset: String(base + e.offset), timestamp: e.timestamp, key: e.key, raw: e.value };
      try {
        r.value = await serde.decode(e.value);
      } catch (err) {
        r.error = err;
      }
      records.push(r);
    }
    const closed = await sink.handle(records);
    const last = await sink.close();
    if (last) closed.push(last);
    totals.shards += closed.length;
    addCounts(totals, sink.stats);
    const s = sink.stats;
    metrics?.committed(p, { processed: s.written + s.duplicates + s.skipped + s.deadLettered, emitted: 0 });
    metrics?.published(topic, closed);
  }
  await opts.format.close?.();
  return totals;
}
