import { Partitioners } from 'kafkajs';
import type { Kafka, Producer } from 'kafkajs';
import type { RecordWriter } from '../record-writer';
import type { SerdeSet } from '../serde/topic-serde';

/** Writes typed records to Kafka with an idempotent producer (no duplicates on retry). */
export class KafkaRecordWriter implements RecordWriter {
  private producer?: Producer;
  constructor(
    private readonly kafka: Kafka,
    private readonly serdes: SerdeSet,
  ) {}

  async write<T>(topic: string, records: Array<{ key: string | null; value: T }>): Promise<void> {
    if (!this.producer) {
      this.producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await this.producer.connect();
    }
    const serde = this.serdes.for<T>(topic);
    const messages = await Promise.all(records.map(async (r) => ({ key: r.key, value: await serde.encode(r.value) })));
    await this.producer.send({ topic, messages, acks: -1 });
  }

  async close(): Promise<void> {
    await this.producer?.disconnect();
  }
}
