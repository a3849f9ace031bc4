// The OpenRLHF remote reward-model request ({"query": [...], "prompts": [...], "labels": [...]}),
// its mapping to rollouts grouped within the request, and the answer to it.
import { z } from 'zod';
import { deterministicId } from '../../core/ids';
import { lineageOf } from '../../core/lineage';
import { REWARD_COMPONENTS } from '../../models/reward/reward-score';
import type { ReasoningRollout, RewardRecord } from '../../schemas/generated/types';
import { splitQuery } from './prompt-split';

export const getRewardRequestSchema = z
  .object({
    /**
     * Prompt + response per sample (OpenRLHF), or the response alone. May be empty: OpenRLHF
     * given several reward URLs shards each one-sample request across them, so all but one
     * get empty lists.
     */
    query: z.array(z.string()),
    /** The prompt of each sample; samples with the same prompt form one GRPO group. */
    prompts: z.array(z.string()).nullish(),
    /** Accepted for compatibility (OpenRLHF sends them); the judges do not use labels. */
    labels: z.array(z.unknown()).nullish(),
  })
  .superRefine((b, ctx) => {
    for (const field of ['prompts', 'labels'] as const) {
      const list = b[field];
      if (list && list.length !== b.query.length) {
        ctx.addIssue({ code: 'custom', path: [field], message: `must have as many items as query (${b.query.length}), has ${list.length}` });
      }
    }
  });
export type GetRewardRequest = z.infer<typeof getRewardRequestSchema>;

/** The body, validated; the error names the bad field (`query.2: Invalid input: expected string, received number`). */
export function parseGetRewardRequest(body: unknown): { ok: true; value: GetRewardRequest } | { ok: false; error: string } {
  const r = getRewardRequestSchema.safeParse(body);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '<body>'}: ${i.message}`).join('; ') };
}

/** The answer to /get_reward: OpenRLHF reads `scores` (else `rewards`), `rewards` and `extra_logs`. */
export interface GetRewardResponse {
  rewards: number[];
  scores: number[];
  /** One list per reward component (and `format_ok`, 1 or 0), aligned with `query`. */
  extra_logs: Record<string, number[]>;
}

/** The response body for records in query order: totals, and the components as OpenRLHF logs them. */
export function rewardResponse(records: RewardRecord[]): GetRewardResponse {
  const totals = records.map((r) => r.total);
  const extra: Record<string, number[]> = {};
  for (const c of REWARD_COMPONENTS) extra[c] = records.map((r) => r.components[c]);
  extra.format_ok = records.map((r) => (r.formatOk ? 1 : 0));
  return { rewards: totals, scores: totals, extra_logs: extra };
}

export interface RolloutMapping {
  /** Rollout and group ids of per-request groups derive from it. */
  requestId: string;
  /** createdAt of the rollouts. */
  now: number;
  policyModel?: string | null;
  step?: number | null;
}

/**
 * One rollout per query item, in order, grouped within the request: items that share a
 * prompt are one GRPO group (group id from the request id and the prompt, group size their
 * count); without prompts each item is a group of its own, since nothing says which items
 * answer the same question. RolloutGrouper regroups small requests across requests.
 */
export function rolloutsFromRequest(req: GetRewardRequest, m: RolloutMapping): ReasoningRollout[] {
  const prompts = req.prompts ?? null;
  const groupOf = (i: number) => (prompts ? deterministicId('grp', m.requestId, 'prompt', prompts[i]!) : deterministicId('grp', m.requestId, 'item', i));
  const groupIds = req.query.map((_, i) => groupOf(i));
  const sizes = new Map<string, number>();
  for (const g of groupIds) sizes.set(g, (sizes.get(g) ?? 0) + 1);
  return req.query.map((query, i) => {
    const prompt = prompts?.[i] ?? '';
    const id = deterministicId('ro', m.requestId, i);
    const { response, match } = splitQuery(query, prompt);
    const versions: Record<string, string> = { 'request.id': m.requestId };
    // How the prompt was cut off, when it was not found verbatim: worth a look if rewards seem off.
    if (prompt && match !== 'exact') versions['request.prompt'] = match;
    return {
      id,
      groupId: groupIds[i]!,
      groupSize: sizes.get(groupIds[i]!)!,
      questionId: deterministicId('q', prompt),
      question: prompt,
      response,
      policyModel: m.policyModel ?? null,
      step: m.step ?? null,
      createdAt: m.now,
      lineage: lineageOf('reward-endpoint', [], versions),
    };
  });
}

/** A request id from the request's content: a retry of the same body gets the same rollout ids. */
export function contentRequestId(req: GetRewardRequest): string {
  return deterministicId('req', JSON.stringify([req.query, req.prompts ?? null]));
}
