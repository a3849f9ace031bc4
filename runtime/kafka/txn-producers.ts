// The transactional producers of a node runner, one per input partition, with the id
// `<group>.<topic>.<partition>`: whoever owns the partition next initialises the same id,
// which fences this one (see kafka-node-runner.ts).
import { Partitioners } from 'kafkajs';
import type { Kafka, Producer } from 'kafkajs';

export class TxnProducers {
  private readonly byPartition = new Map<number, Promise<Producer>>();

  constructor(
    private readonly kafka: Kafka,
    /** `<group>.<topic>`; the partition number is appended. */
    private readonly idPrefix: string,
    private readonly transactionTimeoutMs: number,
  ) {}

  /** Partitions that have a producer (connected or connecting). */
  partitions(): number[] {
    return [...this.byPartition.keys()];
  }

  /** The partition's producer, connecting it on first use. */
  for(partition: number): Promise<Producer> {
    let p = this.byPartition.get(partition);
    if (!p) {
      p = (async () => {
        const producer = this.kafka.producer({
          transactionalId: `${this.idPrefix}.${partition}`,
          idempotent: true,
          maxInFlightRequests: 1,
          transactionTimeout: this.transactionTimeoutMs,
          allowAutoTopicCreation: false,
          createPartitioner: Partitioners.DefaultPartitioner,
        });
        await producer.connect(); // initialises the producer id: fences older owners of this id
        return producer;
      })();
      p.catch(() => this.byPartition.delete(partition));
      this.byPartition.set(partition, p);
    }
    return p;
  }

  /** Disconnects and forgets the partition's producer; the next `for` makes a new one. */
  async drop(partition: number): Promise<void> {
    const p = this.byPartition.get(partition);
    this.byPartition.delete(partition);
    if (p) await p.then((producer) => producer.disconnect()).catch(() => undefined);
  }
}
