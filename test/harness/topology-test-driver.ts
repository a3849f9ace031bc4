// In the spirit of Kafka Streams' TopologyTestDriver: pipe records into a whole topology
// in memory, through the real Avro serdes and node workers, and read what comes out.
import { EmbeddedRuntime, EmbeddedRuntimeOptions, ReadRecord } from '../../runtime/embedded/embedded-runtime';
import type { RecordTypes } from '../../schemas/catalog';
import type { DeadLetter } from '../../schemas/generated/types';
import type { Topology } from '../../topology/topology';

export class TopologyTestDriver {
  readonly runtime: EmbeddedRuntime;
  private readonly readPositions = new Map<string, number>();

  constructor(readonly topology: Topology, opts: EmbeddedRuntimeOptions = {}) {
    this.runtime = new EmbeddedRuntime(topology, opts);
  }

  /** Pipes values into an input topic and runs the topology until it is idle. */
  async pipe<K extends keyof RecordTypes>(topic: string, values: Array<RecordTypes[K] | { key: string; value: RecordTypes[K] }>): Promise<void> {
    await this.runtime.produce(
      topic,
      values.map((v) => ('key' in (v as object) && 'value' in (v as object) ? (v as { key: string; value: unknown }) : { key: (v as { id?: string }).id ?? null, value: v })),
    );
    await this.runtime.runUntilIdle();
  }

  /** Pipes raw bytes (not necessarily valid Avro) and runs the topology. */
  async pipeRaw(topic: string, key: string | null, value: Buffer | null): Promise<void> {
    await this.runtime.produceRaw(topic, key, value);
    await this.runtime.runUntilIdle();
  }

  /** Every record on a topic so far. */
  async readAll<T = unknown>(topic: string): Promise<Array<ReadRecord<T>>> {
    return this.runtime.read<T>(topic);
  }

  /** Records on a topic not yet returned by an earlier readNew call. */
  async readNew<T = unknown>(topic: string): Promise<Array<ReadRecord<T>>> {
    const all = await this.runtime.read<T>(topic);
    const seen = this.readPositions.get(topic) ?? 0;
    this.readPositions.set(topic, all.length);
    return all.slice(seen);
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return (await this.readAll<DeadLetter>(this.topology.deadLetterTopic)).map((r) => r.value);
  }
}
