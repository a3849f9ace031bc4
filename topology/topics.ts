import { z } from 'zod';

/** Default topic names; every one can be renamed in config (`topics.<key>`). */
export const DEFAULT_TOPIC_NAMES = {
  imageQueries: 'valor.image-queries',
  detectionRequests: 'valor.detection-requests',
  detectorProposals: 'valor.detector-proposals',
  verifierJudgements: 'valor.verifier-judgements',
  pseudoLabels: 'valor.pseudo-labels',
  reasoningRollouts: 'valor.reasoning-rollouts',
  rewardRecords: 'valor.reward-records',
  rewardGroups: 'valor.reward-groups',
  /** The group node's pending groups (compacted): its state, restored on restart. */
  rewardGroupsChangelog: 'valor.reward-groups-changelog',
  /** The verify node's records waiting for Batch API results (compacted; batch mode only). */
  verifyParkedChangelog: 'valor.verify-parked-changelog',
  /** The reward node's rollouts waiting for Batch API results (compacted; batch mode only). */
  rewardParkedChangelog: 'valor.reward-parked-changelog',
  /** The answer node's answers: each program's final_answer, tool calls, cost and errors. */
  answers: 'valor.answers',
  deadLetters: 'valor.dead-letters',
  /** People's decisions on boxes (`valor-stream review`): they override the verifier's in the training set. */
  humanVerdicts: 'valor.human-verdicts',
} as const;

export type TopicKey = keyof typeof DEFAULT_TOPIC_NAMES;

const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka topic name: 1-249 of [a-zA-Z0-9._-]');

export const topicNamesSchema = z
  .object(Object.fromEntries(Object.keys(DEFAULT_TOPIC_NAMES).map((k) => [k, topicName.optional()])) as Record<TopicKey, z.ZodOptional<typeof topicName>>)
  .strict()
  .default({});

export type TopicNames = Record<TopicKey, string>;

export function resolveTopicNames(overrides: Partial<Record<TopicKey, string>> = {}): TopicNames {
  return { ...DEFAULT_TOPIC_NAMES, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v)) } as TopicNames;
}
