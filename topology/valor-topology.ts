import { DEFAULT_TOPIC_NAMES, resolveTopicNames, TopicNames } from './topics';
import type { Topology } from './topology';

export interface TopologyOptions {
  topics?: Partial<TopicNames>;
  partitions?: number;
  nodeConfig?: Record<string, unknown>;
}

/**
 * The VALOR mining topology with the nodes built so far. Topics of later stages are
 * declared already (as sinks/sources) so their schemas are registered and their names
 * fixed; nodes are added to this graph as the stages land.
 */
export function valorTopology(opts: TopologyOptions = {}): Topology {
  const t = resolveTopicNames(opts.topics);
  const partitions = opts.partitions ?? 4;
  // Batch mode parks records in keyed state: another processor kind, with a changelog.
  const batchMode = (opts.nodeConfig?.verify as { mode?: string } | undefined)?.mode === 'batch';
  const rewardBatch = (opts.nodeConfig?.reward as { mode?: string } | undefined)?.mode === 'batch';
  const answerConfig = answerNodeConfig(opts.nodeConfig);
  return {
    name: 'valor',
    deadLetterTopic: t.deadLetters,
    topics: [
      { name: t.imageQueries, type: 'ImageQuery', partitions, source: true },
      { name: t.detectionRequests, type: 'DetectionRequest', partitions, sink: true },
      { name: t.detectorProposals, type: 'DetectorProposals', partitions },
      { name: t.verifierJudgements, type: 'VerifierJudgement', partitions, sink: true },
      { name: t.pseudoLabels, type: 'PseudoLabel', partitions, sink: true },
      { name: t.reasoningRollouts, type: 'ReasoningRollout', partitions, source: true },
      { name: t.rewardRecords, type: 'RewardRecord', partitions, sink: true },
      { name: t.rewardGroups, type: 'RewardGroup', partitions, sink: true },
      { name: t.rewardGroupsChangelog, type: 'RewardGroupState', partitions, compacted: true },
      { name: t.humanVerdicts, type: 'HumanVerdict', partitions, source: true, sink: true },
      { name: t.answers, type: 'Answer', partitions, sink: true },
      ...(batchMode ? [{ name: t.verifyParkedChangelog, type: 'ParkedRecord' as const, partitions, compacted: true }] : []),
      ...(rewardBatch ? [{ name: t.rewardParkedChangelog, type: 'ParkedRecord' as const, partitions, compacted: true }] : []),
      { name: t.deadLetters, type: 'DeadLetter', partitions: 1, sink: true },
    ],
    nodes: [
      { name: 'plan', processor: 'plan', input: t.imageQueries, outputs: { requests: t.detectionRequests }, config: opts.nodeConfig?.plan },
      { name: 'detect', processor: 'detect', input: t.detectionRequests, outputs: { proposals: t.detectorProposals }, config: opts.nodeConfig?.detect },
      {
        name: 'verify',
        processor: batchMode ? 'verify-batch' : 'verify',
        input: t.detectorProposals,
        outputs: { judgements: t.verifierJudgements, labels: t.pseudoLabels },
        ...(batchMode ? { changelog: t.verifyParkedChangelog } : {}),
        config: opts.nodeConfig?.verify,
      },
      {
        name: 'reward',
        processor: rewardBatch ? 'reward-batch' : 'reward',
        input: t.reasoningRollouts,
        outputs: { rewards: t.rewardRecords },
        ...(rewardBatch ? { changelog: t.rewardParkedChangelog } : {}),
        config: opts.nodeConfig?.reward,
      },
      {
        name: 'reward-group',
        processor: 'reward-group',
        input: t.rewardRecords,
        outputs: { groups: t.rewardGroups },
        changelog: t.rewardGroupsChangelog,
        config: opts.nodeConfig?.['reward-group'],
      },
      // The reasoner runs when configured (nodes.answer): it answers the queries the mining loop reads.
      ...(answerConfig ? [{ name: 'answer', processor: 'answer', input: t.imageQueries, outputs: { answers: t.answers }, config: answerConfig }] : []),
    ],
  };
}

/**
 * The answer node's config, its detector defaulting to the detect node's (model, tokenizer,
 * intake) at the answer node's own thresholds; undefined when the node is not configured.
 */
function answerNodeConfig(nodeConfig: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const answer = nodeConfig?.answer as Record<string, unknown> | undefined;
  if (!answer || answer.enabled === false) return undefined;
  const { enabled: _enabled, ...rest } = answer;
  if (rest.detector !== undefined || !nodeConfig?.detect) return rest;
  const { boxThreshold: _b, textThreshold: _t, batchSize: _s, retry: _r, ...detector } = nodeConfig.detect as Record<string, unknown>;
  return { ...rest, detector };
}

/** A single pass-through node: the baseline for delivery tests and benchmarks. */
export function passthroughTopology(opts: { input?: string; output?: string; deadLetters?: string; partitions?: number; config?: unknown } = {}): Topology {
  const input = opts.input ?? 'valor.image-queries';
  const output = opts.output ?? 'valor.image-queries-checked';
  const dl = opts.deadLetters ?? 'valor.dead-letters';
  const partitions = opts.partitions ?? 4;
  return {
    name: 'passthrough',
    deadLetterTopic: dl,
    topics: [
      { name: input, type: 'ImageQuery', partitions, source: true },
      { name: output, type: 'ImageQuery', partitions, sink: true },
      { name: dl, type: 'DeadLetter', partitions: 1, sink: true },
    ],
    nodes: [{ name: 'passthrough', processor: 'passthrough', input, outputs: { out: output }, config: opts.config }],
  };
}

export const TOPOLOGIES: Record<string, (opts?: TopologyOptions) => Topology> = {
  valor: valorTopology,
  passthrough: (o) => {
    const input = o?.topics?.imageQueries ?? DEFAULT_TOPIC_NAMES.imageQueries;
    return passthroughTopology({
      input,
      output: `${input}-checked`,
      deadLetters: o?.topics?.deadLetters,
      partitions: o?.partitions,
      config: o?.nodeConfig?.passthrough,
    });
  },
};
