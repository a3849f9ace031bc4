import * as fs from 'node:fs';
import * as path from 'node:path';
import { bytesAsBase64 } from '../../core/json-bytes';
import type { EmbeddedRuntime } from './embedded-runtime';

/**
 * Writes every topic of an embedded run as `<dir>/<topic>.jsonl` (decoded values), written
 * to a temp file then renamed so a reader never sees half a file.
 */
export async function dumpTopics(runtime: EmbeddedRuntime, dir: string): Promise<Record<string, number>> {
  fs.mkdirSync(dir, { recursive: true });
  const counts: Record<string, number> = {};
  for (const t of runtime.topology.topics) {
    const records = await runtime.read(t.name);
    const file = path.join(dir, `${t.name}.jsonl`);
    const tmp = `${file}.tmp`;
    fs.writeFileSync(
      tmp,
      records.map((r) => JSON.stringify({ key: r.key, partition: r.partition, offset: r.offset, value: r.value }, bytesAsBase64)).join('\n') +
        (records.length ? '\n' : ''),
    );
    fs.renameSync(tmp, file);
    counts[t.name] = records.length;
  }
  return counts;
}
