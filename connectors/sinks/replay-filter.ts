// Which run's records a sink writes. A replay's outputs land on the same topics as the live
// pipeline's, tagged `replay.tag` in their lineage; a dataset mixing both would hold two
// labels for one image. So a sink writes the live records only by default, one replay's
// records when given its tag, or everything with 'all'. Others are skipped (counted).
import { replayTagOf } from '../../core/lineage';
import type { SinkFormat } from './partition-sink';

/** null: live records only; a tag: that replay's; 'all': every record. */
export type ReplaySelection = null | string;

export function selectsRecord(selection: ReplaySelection, value: unknown): boolean {
  if (selection === 'all') return true;
  return replayTagOf(value) === selection;
}

/** `format` writing only the selected run's records. */
export function replayFiltered<T>(format: SinkFormat<T>, selection: ReplaySelection): SinkFormat<T> {
  if (selection === 'all') return format;
  return {
    name: format.name,
    format: async (value, at) => (selectsRecord(selection, value) ? format.format(value, at) : null),
    onShardsClosed: format.onShardsClosed?.bind(format),
    close: format.close?.bind(format),
  };
}
