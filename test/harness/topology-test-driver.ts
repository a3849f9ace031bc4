// In the spirit of Kafka Streams' TopologyTestDriver: pipe records into a whole topology
// in memory, through the real Avro serdes and node workers, and read what comes out.
// Wall-clock time is the driver's own: it stands still until advanceWallClockTime moves
// it, so timeouts and punctuations fire when a test says, never from how fast it runs.
import type { Clock } from '../../core/clock';
import { EmbeddedLog } from '../../runtime/embedded/embedded-log';
import { EmbeddedRuntime, EmbeddedRuntimeOptions, NodeStats, ReadRecord } from '../../runtime/embedded/embedded-runtime';
import { MemoryRegistry } from '../../runtime/registry/memory-registry';
import type { RegistryClient } from '../../runtime/registry/registry-client';
import type { RecordTypes } from '../../schemas/catalog';
import type { DeadLetter } from '../../schemas/generated/types';
import type { Topology } from '../../topology/topology';

/** A clock that moves only when told. */
export class TestClock implements Clock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    // Wall time never runs backwards; a NaN would silently stop every timeout.
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`wall-clock time can only advance by a finite ms >= 0, got ${ms}`);
    this.t += ms;
  }
}

export interface TopologyTestDriverOptions extends Omit<EmbeddedRuntimeOptions, 'clock'> {
  /** Where the driver's wall clock starts, in epoch ms (default: now). */
  initialWallClockTime?: number;
}

export interface PipeOptions {
  /** Record time of the piped records that carry none (default: the driver's wall clock). */
  timestamp?: number;
  /** Stop after this many node steps, as a process that dies mid-stream (default: until idle). */
  maxSteps?: number;
}

type Piped<V> = V | { key: string | null; value: V; timestamp?: number };

export class TopologyTestDriver {
  /** The running process; restart() replaces it. */
  runtime: EmbeddedRuntime;
  /** The "cluster": log, committed offsets and registry outlive restarts. */
  readonly log: EmbeddedLog;
  readonly registry: RegistryClient;
  readonly clock: TestClock;
  private readonly readPositions = new Map<string, number>();

  constructor(
    readonly topology: Topology,
    private readonly opts: TopologyTestDriverOptions = {},
  ) {
    this.log = opts.log ?? new EmbeddedLog();
    this.registry = opts.registry ?? new MemoryRegistry();
    this.clock = new TestClock(opts.initialWallClockTime ?? Date.now());
    this.runtime = this.newRuntime();
  }

  get wallClockTime(): number {
    return this.clock.now();
  }

  /** Pipes values into an input topic and runs the topology until it is idle (or maxSteps). */
  async pipe<K extends keyof RecordTypes>(topic: string, values: Array<Piped<RecordTypes[K]>>, opts: PipeOptions = {}): Promise<void> {
    await this.runtime.produce(
      topic,
      values.map((v) => {
        const r =
          'key' in (v as object) && 'value' in (v as object)
            ? (v as { key: string | null; value: unknown; timestamp?: number })
            : { key: (v as { id?: string }).id ?? null, value: v };
        return { ...r, timestamp: r.timestamp ?? opts.timestamp };
      }),
    );
    await this.runtime.runUntilIdle(opts.maxSteps);
  }

  /** Pipes raw bytes (not necessarily valid Avro) and runs the topology. */
  async pipeRaw(topic: string, key: string | null, value: Buffer | null): Promise<void> {
    await this.runtime.produceRaw(topic, key, value);
    await this.runtime.runUntilIdle();
  }

  /**
   * Moves wall-clock time forward with no records flowing, then runs the topology until
   * idle: every punctuation that is due fires once, at the new time. As in Kafka Streams,
   * intervals skipped by a long advance are not replayed; advance in steps to see them.
   */
  async advanceWallClockTime(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.runtime.runUntilIdle();
  }

  /** Runs the topology until it is idle (or maxSteps), e.g. right after a restart. */
  async runUntilIdle(maxSteps?: number): Promise<Map<string, NodeStats>> {
    return this.runtime.runUntilIdle(maxSteps);
  }

  /**
   * Stops the process and starts a new one on the same log, offsets, registry and clock:
   * it resumes from the committed offsets and restores keyed state from the changelogs
   * before it uses them. `downtimeMs` passes while no process runs, so no punctuation
   * sees it. Nothing runs until the next pipe, advance or runUntilIdle. Stores given in
   * the options are reopened (like files); the default in-memory ones start empty.
   */
  async restart(opts: { downtimeMs?: number } = {}): Promise<void> {
    await this.runtime.close();
    this.clock.advance(opts.downtimeMs ?? 0);
    this.runtime = this.newRuntime();
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

  async close(): Promise<void> {
    await this.runtime.close();
  }

  private newRuntime(): EmbeddedRuntime {
    const opts: TopologyTestDriverOptions = { ...this.opts };
    delete opts.initialWallClockTime;
    return new EmbeddedRuntime(this.topology, { ...opts, log: this.log, registry: this.registry, clock: this.clock });
  }
}
