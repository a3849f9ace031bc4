import { map } from 'rxjs';
import { z } from 'zod';
import { ValorError } from '../core/errors';
import type { KeyedState } from '../core/keyed-state';
import { lineageOf } from '../core/lineage';
import { defineProcessor, Emit, InputRecord, Origin, Outcome } from '../core/processor';
import type { RewardGroup, RewardGroupState, RewardRecord } from '../schemas/generated/types';

export const rewardGroupConfig = z
  .object({
    /** How long a group waits for its last member, from the record time of its first. */
    timeoutMs: z.number().int().min(1).default(120_000),
    /** How long an emitted group is remembered, to drop duplicates and dead-letter late members. */
    retainMs: z.number().int().min(0).default(600_000),
    /** How often timeouts are checked, also when no record arrives. */
    punctuateMs: z.number().int().min(10).default(1_000),
  })
  .strict();
export type RewardGroupConfig = z.infer<typeof rewardGroupConfig>;

/** A member that cannot join its group; the record goes to dead letters with this reason. */
export class GroupMemberError extends ValorError {}

/** Mean and sample standard deviation (n-1, as torch.std in TRL, OpenRLHF and verl); 0 below two members. */
export function groupStats(totals: number[]): { mean: number; std: number } {
  const n = totals.length;
  if (n === 0) return { mean: 0, std: 0 };
  const mean = totals.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, std: 0 };
  const variance = totals.reduce((a, t) => a + (t - mean) ** 2, 0) / (n - 1);
  return { mean, std: Math.sqrt(variance) };
}

/**
 * reward-records -> reward-groups. Rollouts of one question share a group id and size;
 * the records arrive keyed by group, so a group lives in one partition. When every member
 * has its reward, the group is emitted with the rewards, mean and std; a group still
 * incomplete `timeoutMs` after its first member is emitted flagged partial.
 *
 * The pending groups are keyed state in the node's changelog, committed with the outputs:
 * after a crash or a rebalance the state and the input offsets agree, so every group is
 * emitted exactly once. Time is stream time (the newest record time in the partition) plus
 * the wall time the partition has been idle: a replay of an old topic does not time out
 * groups whose members are still to be read, and a stream that stops still times them out.
 */
export const rewardGroup = defineProcessor({
  kind: 'reward-group',
  description: 'collects the rewards of each GRPO group; emits it complete, or partial after a timeout',
  input: 'RewardRecord',
  outputs: { groups: 'RewardGroup' },
  state: { type: 'RewardGroupState' },
  config: rewardGroupConfig,
  create: (config, ctx) => {
    const state = ctx.state as KeyedState<RewardGroupState>;
    const streamTime = new Map<number, number>();
    const lastRecordWall = new Map<number, number>();

    const groupRecord = (st: RewardGroupState, partial: boolean, origin?: Origin): RewardGroup => {
      // Sorted by rollout id: the same group whatever order its members arrived in.
      const members = [...st.members].sort((a, b) => (a.rolloutId < b.rolloutId ? -1 : a.rolloutId > b.rolloutId ? 1 : 0));
      const { mean, std } = groupStats(members.map((m) => m.total));
      return {
        groupId: st.groupId,
        questionId: st.questionId,
        groupSize: st.groupSize,
        members,
        mean,
        std,
        partial,
        createdAt: ctx.clock.now(),
        lineage: lineageOf(
          ctx.node,
          members.map((m) => m.rewardId),
          { 'group.timeoutMs': String(config.timeoutMs) },
          origin,
        ),
      };
    };

    const emitted = (partition: number, st: RewardGroupState, at: number, partial: boolean): void => {
      if (config.retainMs === 0) state.delete(partition, st.groupId);
      else state.set(partition, st.groupId, { ...st, emitted: { at, partial } });
    };

    const onRecord = (rec: InputRecord<RewardRecord>): Outcome<RewardRecord> => {
      const r = rec.value;
      const p = rec.origin.partition;
      const now = Math.max(streamTime.get(p) ?? rec.timestamp, rec.timestamp);
      streamTime.set(p, now);
      lastRecordWall.set(p, ctx.clock.now());
      const fail = (message: string): Outcome<RewardRecord> => ({ input: rec, outputs: [], failure: { error: new GroupMemberError(message), attempts: 1 } });
      const st = state.get(p, r.groupId);
      const seen = st?.members.some((m) => m.rolloutId === r.rolloutId) ?? false;
      if (seen) {
        // A redelivered or re-scored member: the group already counts it.
        ctx.logger.debug({ groupId: r.groupId, rolloutId: r.rolloutId }, 'duplicate group member ignored');
        return { input: rec, outputs: [] };
      }
      if (st?.emitted) {
        return fail(
          `rollout ${r.rolloutId} arrived after group ${r.groupId} was emitted ${st.emitted.partial ? `partial (timeout ${config.timeoutMs} ms)` : 'complete'} with ${st.members.length}/${st.groupSize} members`,
        );
      }
      if (st && st.groupSize !== r.groupSize) {
        return fail(`rollout ${r.rolloutId} says group ${r.groupId} has ${r.groupSize} members, but earlier members said ${st.groupSize}`);
      }
      if (r.groupSize < 1) return fail(`rollout ${r.rolloutId} has groupSize ${r.groupSize}; a group needs at least one member`);
      const next: RewardGroupState = st
        ? { ...st, members: [...st.members], lastAt: Math.max(st.lastAt, rec.timestamp) }
        : { groupId: r.groupId, questionId: r.questionId, groupSize: r.groupSize, members: [], firstAt: rec.timestamp, lastAt: rec.timestamp, emitted: null };
      next.members.push({ rolloutId: r.rolloutId, rewardId: r.id, total: r.total });
      if (next.members.length < next.groupSize) {
        state.set(p, r.groupId, next);
        return { input: rec, outputs: [] };
      }
      emitted(p, next, now, false);
      return { input: rec, outputs: [{ port: 'groups', key: r.groupId, value: groupRecord(next, false, rec.origin) }] };
    };

    ctx.schedule(config.punctuateMs, (partition, wallNow) => {
      const entries = state.entries(partition);
      if (!streamTime.has(partition)) {
        // Restored state, no record yet since: resume stream time from the newest member.
        if (entries.length === 0) return [];
        streamTime.set(partition, Math.max(...entries.map(([, st]) => st.lastAt)));
      }
      if (!lastRecordWall.has(partition)) lastRecordWall.set(partition, wallNow);
      const now = streamTime.get(partition)! + Math.max(0, wallNow - lastRecordWall.get(partition)!);
      const out: Emit[] = [];
      for (const [groupId, st] of entries) {
        if (st.emitted) {
          if (now - st.emitted.at >= config.retainMs) state.delete(partition, groupId);
        } else if (now - st.firstAt >= config.timeoutMs) {
          ctx.logger.warn({ groupId, members: st.members.length, groupSize: st.groupSize, timeoutMs: config.timeoutMs }, 'group timed out; emitted partial');
          emitted(partition, st, now, true);
          out.push({ port: 'groups', key: groupId, value: groupRecord(st, true) });
        }
      }
      return out;
    });

    return (input$) => input$.pipe(map(onRecord));
  },
});
