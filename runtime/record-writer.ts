/** Somewhere typed records can be written: the embedded log or a Kafka producer. */
export interface RecordWriter {
  write<T>(topic: string, records: Array<{ key: string | null; value: T }>): Promise<void>;
  close(): Promise<void>;
}
