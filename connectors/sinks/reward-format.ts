// The reward sink's SinkFormat: reward records and reward groups as JSON lines, with every
// component, the weights and total, judge provenance and (for groups) the group statistics.
import type { RewardGroup, RewardRecord } from '../../schemas/generated/types';
import type { FormattedLine, SinkFormat } from './partition-sink';

export class RewardFormat implements SinkFormat<RewardRecord | RewardGroup> {
  readonly name = 'rewards';
  async format(v: RewardRecord | RewardGroup): Promise<FormattedLine> {
    // A record's id (or a group's id) identifies it: a replay writes it once.
    const signature = 'rolloutId' in v ? `reward:${v.id}` : `group:${v.groupId}:${v.partial ? 'partial' : 'complete'}:${v.members.length}`;
    return { line: JSON.stringify(v), signature, versions: Object.entries(v.lineage.versions).map(([k, x]) => `${k}=${x}`) };
  }
}
