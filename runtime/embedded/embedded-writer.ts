import type { RecordWriter } from '../record-writer';
import type { EmbeddedRuntime } from './embedded-runtime';

/** Writes typed records onto the embedded log, as a producer would to Kafka. */
export class EmbeddedWriter implements RecordWriter {
  constructor(private readonly runtime: EmbeddedRuntime) {}
  write<T>(topic: string, records: Array<{ key: string | null; value: T }>): Promise<void> {
    return this.runtime.produce(topic, records);
  }
  async close(): Promise<void> {}
}
