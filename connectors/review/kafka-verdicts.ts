// People's verdicts as records on Kafka (`valor.human-verdicts`, Avro through the registry,
// keyed by image sha256 so one image's verdicts stay in order on one partition), for
// consumers other than the dataset directory: online trainers, audits, other sinks. The
// review server writes each verdict to the dataset's log first, then here.
import type { RecordWriter } from '../../runtime/record-writer';
import type { HumanVerdict } from '../../schemas/generated/types';

export function verdictRecord(v: HumanVerdict): { key: string; value: HumanVerdict } {
  return { key: v.imageSha256, value: v };
}

/** An `onVerdict` for the review server that produces to `topic` through `writer`. */
export function kafkaVerdictMirror(writer: RecordWriter, topic: string): (v: HumanVerdict) => Promise<void> {
  return (v) => writer.write(topic, [verdictRecord(v)]);
}
