// Label ids for ODVG: stable forever and the same in every sink instance and after every
// restart. An id is the position of a category's FIRST appearance in an append-only log:
// a single-partition Kafka topic on a cluster, a file locally. To add categories an
// instance appends them and then reads the log up to its own write, so two instances that
// add the same category at once both end up with the id of whichever write came first.
//
// The topic is deliberately NOT compacted: compaction keeps the latest record per key, so
// a category written twice (two instances racing) would lose its first position and the
// ids after it would shift. With infinite retention and one record per new category the
// topic stays tiny.
//
// On Kafka a record's key is the category (plain UTF-8) and its value a LabelLogEntry
// (schemas/labels.avsc) in the Confluent wire format, registered like every other topic's.
// Ids are read from the keys: the tail's callback is synchronous and in log order, which is
// exactly the order ids need, and decoding a value may have to fetch a writer schema. The
// key also covers logs written before the values were Avro (their values are the category
// as plain text).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Kafka } from 'kafkajs';
import type { LabelLogEntry } from '../../schemas/generated/types';
import { TopicTail } from '../../runtime/kafka/topic-tail';
import type { RegistryClient } from '../../runtime/registry/registry-client';
import { TopicSerde } from '../../runtime/serde/topic-serde';

export interface LabelRegistry {
  /** Ids for these categories, assigning new ones (appended) as needed. */
  idsFor(categories: string[]): Promise<Map<string, number>>;
  /** Every category by id, as known now. */
  labels(): string[];
  close(): Promise<void>;
}

/** Distinct categories in first-appearance order. */
class FirstSeen {
  readonly order: string[] = [];
  private readonly ids = new Map<string, number>();
  add(category: string): void {
    if (!this.ids.has(category)) {
      this.ids.set(category, this.order.length);
      this.order.push(category);
    }
  }
  id(category: string): number | undefined {
    return this.ids.get(category);
  }
}

/**
 * The shared part of both logs: calls are serialised, and a category that is not known
 * yet is appended, then read back, before its id is handed out.
 */
abstract class OrderedLabelLog implements LabelRegistry {
  protected seen = new FirstSeen();
  private lock: Promise<unknown> = Promise.resolve();

  /** Appends the categories and returns once the log has been read past them. */
  protected abstract appendAndReadBack(missing: string[]): Promise<void>;
  /** Refreshes `seen` before deciding what is missing (a file may have grown). */
  protected async refresh(): Promise<void> {}

  idsFor(categories: string[]): Promise<Map<string, number>> {
    const run = this.lock.then(async () => {
      if (categories.some((c) => this.seen.id(c) === undefined)) await this.refresh();
      const missing = [...new Set(categories.filter((c) => this.seen.id(c) === undefined))];
      if (missing.length) await this.appendAndReadBack(missing);
      return new Map(categories.map((c) => [c, this.seen.id(c)!]));
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  labels(): string[] {
    return [...this.seen.order];
  }

  async close(): Promise<void> {
    await this.lock;
  }
}

/** A local append-only file, one JSON string per line; for the embedded runtime and tests. */
export class FileLabelRegistry extends OrderedLabelLog {
  constructor(readonly file: string) {
    super();
  }

  protected override async refresh(): Promise<void> {
    let text = '';
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const seen = new FirstSeen();
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        seen.add(JSON.parse(line) as string);
      } catch {
        // a torn last line from a crash: the category is appended again when next needed
      }
    }
    this.seen = seen;
  }

  protected async appendAndReadBack(missing: string[]): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const fh = await fs.open(this.file, 'a');
    try {
      // A torn line from a crash must not swallow the next entry.
      const st = await fh.stat();
      const lead = st.size > 0 && !(await endsWithNewline(this.file, st.size)) ? '\n' : '';
      await fh.appendFile(lead + missing.map((c) => JSON.stringify(c)).join('\n') + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.refresh();
  }

  static async open(file: string): Promise<FileLabelRegistry> {
    const r = new FileLabelRegistry(file);
    await r.refresh();
    return r;
  }
}

async function endsWithNewline(file: string, size: number): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    await fh.close();
  }
}

/** The label log on Kafka: one partition, infinite retention, no compaction. */
export class KafkaLabelRegistry extends OrderedLabelLog {
  private tail?: TopicTail;

  private constructor(
    readonly topic: string,
    private readonly serde: TopicSerde<LabelLogEntry>,
  ) {
    super();
  }

  /** `registry`: where the value schema is registered (the topology's registry). */
  static async open(
    kafka: Kafka,
    topic: string,
    registry: RegistryClient,
    opts: { replicationFactor?: number; loadTimeoutMs?: number } = {},
  ): Promise<KafkaLabelRegistry> {
    const serde = new TopicSerde<LabelLogEntry>(topic, 'LabelLogEntry', registry);
    await serde.id(); // a bad registry fails start-up, not the first new category
    const r = new KafkaLabelRegistry(topic, serde);
    const create = {
      topic,
      numPartitions: 1,
      replicationFactor: opts.replicationFactor ?? 1,
      configEntries: [
        { name: 'retention.ms', value: '-1' },
        { name: 'retention.bytes', value: '-1' },
      ],
    };
    r.tail = await TopicTail.open(kafka, create, (_, message) => {
      const category = message.key?.toString('utf8');
      if (category) r.seen.add(category);
    });
    try {
      if (r.tail.partitions !== 1)
        throw new Error(`label topic ${topic} has ${r.tail.partitions} partitions; ids need a single total order, so it must have exactly 1`);
      await r.tail.caughtUp(opts.loadTimeoutMs ?? 60_000, 'label registry');
    } catch (err) {
      await r.tail.close();
      throw err;
    }
    return r;
  }

  protected async appendAndReadBack(missing: string[]): Promise<void> {
    const messages = await Promise.all(missing.map(async (c) => ({ key: c, value: await this.serde.encode({ category: c }), partition: 0 })));
    const res = await this.tail!.producer!.send({ topic: this.topic, acks: -1, messages });
    const last = BigInt(res[0]!.baseOffset ?? '0') + BigInt(missing.length - 1);
    // Our own writes define nothing until read back in log order.
    await this.tail!.waitFor(0, last, 60_000, 'label registry');
  }

  override async close(): Promise<void> {
    await super.close();
    await this.tail?.close();
  }
}
