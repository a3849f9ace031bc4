import { deterministicId } from '../../core/ids';
import { lineageOf } from '../../core/lineage';
import type { Clock } from '../../core/clock';
import { systemClock } from '../../core/clock';
import type { DeadLetter, ImageQuery } from '../../schemas/generated/types';
import type { RecordWriter } from '../../runtime/record-writer';
import { DEFAULT_TEXT_LIMITS, TextLimits, textLimitsSchema } from '../../core/text-limits';
import type { Topology } from '../../topology/topology';
import { CorpusEvent, readCorpus } from './corpus-reader';

export const CORPUS_NODE = 'corpus-source';

export function toImageQuery(e: CorpusEvent, corpus: string, clock: Clock = systemClock): ImageQuery {
  return {
    id: e.id,
    corpus,
    image: { uri: e.imageUri, bytes: e.imageBytes, sha256: null, width: null, height: null, mediaType: null },
    question: e.question,
    phrases: e.phrases,
    program: e.program,
    metadata: e.metadata,
    createdAt: clock.now(),
    lineage: lineageOf(CORPUS_NODE, [], { corpus }),
  };
}

/**
 * The text limits of the node that reads the topology's ImageQuery source topic (plan, or
 * passthrough) and where they are configured, for readCorpus: the corpus then refuses
 * what that node would, and no less, when its limits are raised. Defaults when no node
 * reads the topic or its limits are invalid (topology validation reports those).
 */
export function intakeLimits(topology: Topology): { limits: TextLimits; limitsKey: string } {
  const source = topology.topics.find((t) => t.source && t.type === 'ImageQuery');
  const node = source && topology.nodes.find((n) => n.input === source.name);
  if (!node) return { limits: { ...DEFAULT_TEXT_LIMITS }, limitsKey: 'limits' };
  const raw = (node.config as { limits?: unknown } | undefined)?.limits;
  const parsed = textLimitsSchema.safeParse(raw ?? {});
  return { limits: parsed.success ? parsed.data : { ...DEFAULT_TEXT_LIMITS }, limitsKey: `nodes.${node.name}.limits` };
}

export interface ProduceCorpusOptions {
  corpusName?: string;
  /** Text limits of a line (see intakeLimits); default core/text-limits.ts's. */
  limits?: TextLimits;
  limitsKey?: string;
  batchSize?: number;
  clock?: Clock;
  onProgress?: (done: number) => void;
}

export interface ProduceCorpusResult {
  produced: number;
  deadLettered: number;
}

/**
 * Reads a corpus file or directory and writes each event as an ImageQuery keyed by its
 * id. A line that is not a valid event goes to the dead-letter topic with its file, line
 * number and raw text; the rest go on.
 */
export async function produceCorpus(
  corpusPath: string,
  writer: RecordWriter,
  topics: { imageQueries: string; deadLetters: string },
  opts: ProduceCorpusOptions = {},
): Promise<ProduceCorpusResult> {
  const batchSize = opts.batchSize ?? 500;
  const clock = opts.clock ?? systemClock;
  const corpus = opts.corpusName ?? 'corpus';
  let batch: Array<{ key: string; value: ImageQuery }> = [];
  const result: ProduceCorpusResult = { produced: 0, deadLettered: 0 };
  let done = 0;
  const flush = async () => {
    if (!batch.length) return;
    await writer.write(topics.imageQueries, batch);
    result.produced += batch.length;
    batch = [];
  };
  for await (const item of readCorpus(corpusPath, { corpusName: corpus, limits: opts.limits, limitsKey: opts.limitsKey })) {
    if (item.ok) {
      batch.push({ key: item.event.id, value: toImageQuery(item.event, corpus, clock) });
      if (batch.length >= batchSize) await flush();
    } else {
      const dl: DeadLetter = {
        id: deterministicId('dl', CORPUS_NODE, item.file, item.line),
        node: CORPUS_NODE,
        reason: item.error,
        errorClass: 'ValidationError',
        retriable: false,
        attempts: 1,
        source: { topic: `file:${item.file}`, partition: 0, offset: item.line, timestamp: clock.now(), key: null },
        payload: Buffer.from(item.raw, 'utf8'),
        failedAt: clock.now(),
      };
      await writer.write(topics.deadLetters, [{ key: `${item.file}:${item.line}`, value: dl }]);
      result.deadLettered++;
    }
    done++;
    if (done % 100 === 0) opts.onProgress?.(done);
  }
  await flush();
  opts.onProgress?.(done);
  return result;
}
