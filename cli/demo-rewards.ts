// Loop 2 in the demo: GRPO-style groups of rollouts built from the synthetic corpus's
// reasoning programs, scored by the reward node (format gate, sandboxed run, four judges
// through the demo's fake provider) and collected by the group node, then written as
// reward shards. Each group mixes a correct rollout with three kinds of wrong ones, so the
// rewards spread the way a GRPO trainer needs them to.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../core/logger';
import { lineageOf } from '../core/lineage';
import { EmbeddedRuntime } from '../runtime/embedded/embedded-runtime';
import { runEmbeddedSink } from '../connectors/sinks/embedded-sink';
import { RewardFormat } from '../connectors/sinks/reward-format';
import { LocalFileStorage } from '../connectors/sinks/shard-storage';
import type { ReasoningRollout, RewardGroup, RewardRecord } from '../schemas/generated/types';
import type { FakeModelRequest } from '../test/fakes/fake-openai-server';
import type { Topology } from '../topology/topology';

/** How each member of a demo group departs from the corpus's correct program. */
export const ROLLOUT_VARIANTS = ['correct', 'crashes', 'no-plan', 'guesses'] as const;
export type RolloutVariant = (typeof ROLLOUT_VARIANTS)[number];

function variant(response: string, kind: RolloutVariant): string {
  switch (kind) {
    case 'correct':
      return response;
    case 'crashes': // reads a box that is never defined: the sandbox run raises NameError
      return response.replace(/final_answer = /, 'box = missing_box[0]\nfinal_answer = ');
    case 'no-plan': // fails the format gate
      return response.replace(/<plan>[\s\S]*<\/plan>/, '');
    case 'guesses': // answers without looking: the judges refuse it
      return response.replace(/<answer>[\s\S]*<\/answer>/, '<answer>\nfinal_answer = "yes"\n</answer>');
  }
}

/** Groups of rollouts, one per corpus event that carries a program. */
export function demoRollouts(corpusFile: string, now = Date.now()): ReasoningRollout[] {
  const out: ReasoningRollout[] = [];
  for (const line of fs.readFileSync(corpusFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as { id: string; question: string; program?: string };
    if (!e.program) continue;
    const groupId = `demo-${e.id}`;
    ROLLOUT_VARIANTS.forEach((kind, i) =>
      out.push({
        id: `${groupId}-${i}-${kind}`,
        groupId,
        groupSize: ROLLOUT_VARIANTS.length,
        questionId: e.id,
        question: e.question,
        response: variant(e.program!, kind),
        policyModel: 'demo-policy',
        step: 0,
        createdAt: now,
        lineage: lineageOf('demo', [e.id]),
      }),
    );
  }
  return out;
}

/**
 * The demo's judge: passes a plan whose program derives its answer from a detection, fails
 * one that answers without calling a tool. A stand-in for Gemini, spoken to through the
 * real SDK of the configured provider; null for requests that are not judge prompts.
 */
export function demoJudgeAnswer(req: FakeModelRequest): string | null {
  const text = `${req.instructions ?? ''}\n${req.text}`;
  if (!/You are grading/.test(text)) return null;
  const program = text.split(/\nProgram:\n/)[1] ?? '';
  return /gd_detect\(/.test(program)
    ? 'The answer is derived from the detections.\n<answer>1</answer>'
    : 'The answer is not derived from any tool output.\n<answer>0</answer>';
}

export interface RewardDemoResult {
  rollouts: number;
  groups: RewardGroup[];
  meanByVariant: Record<RolloutVariant, number>;
  shards: number;
  dir: string;
}

/** Runs the reward and group nodes over the demo rollouts and writes the groups as shards. */
export async function runRewardDemo(topology: Topology, corpusFile: string, outDir: string, logger: Logger): Promise<RewardDemoResult> {
  const runtime = new EmbeddedRuntime(topology, { logger, only: ['reward', 'reward-group'] });
  const rollouts = demoRollouts(corpusFile);
  const rolloutsTopic = topology.nodes.find((n) => n.name === 'reward')!.input;
  const groupsTopic = topology.nodes.find((n) => n.name === 'reward-group')!.outputs.groups!;
  const recordsTopic = topology.nodes.find((n) => n.name === 'reward')!.outputs.rewards!;
  await runtime.produce(
    rolloutsTopic,
    rollouts.map((r) => ({ key: r.groupId, value: r })),
  );
  await runtime.runUntilIdle();

  const records = (await runtime.read<RewardRecord>(recordsTopic)).map((r) => r.value);
  const meanByVariant = Object.fromEntries(
    ROLLOUT_VARIANTS.map((kind) => {
      const xs = records.filter((r) => r.rolloutId.endsWith(`-${kind}`)).map((r) => r.total);
      return [kind, xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0];
    }),
  ) as Record<RolloutVariant, number>;
  const dir = path.join(outDir, 'rewards');
  const sunk = await runEmbeddedSink({
    runtime,
    topic: groupsTopic,
    storage: new LocalFileStorage(dir),
    shardDir: 'groups',
    format: new RewardFormat(),
    logger,
  });
  const groups = (await runtime.read<RewardGroup>(groupsTopic)).map((r) => r.value);
  await runtime.close();
  return { rollouts: rollouts.length, groups, meanByVariant, shards: sunk.shards, dir: path.join(dir, 'groups') };
}

export function formatRewardDemo(r: RewardDemoResult): string {
  const complete = r.groups.filter((g) => !g.partial).length;
  const spread = r.groups.length ? r.groups.reduce((a, g) => a + g.std, 0) / r.groups.length : 0;
  return [
    `rollouts: ${r.rollouts} in ${r.groups.length} groups of ${ROLLOUT_VARIANTS.length}; ${complete} complete, ${r.groups.length - complete} partial`,
    `mean reward by rollout kind: ${ROLLOUT_VARIANTS.map((k) => `${k} ${r.meanByVariant[k].toFixed(2)}`).join(', ')}`,
    `mean within-group std: ${spread.toFixed(3)} (what GRPO normalises advantages by)`,
    `reward groups: ${r.shards} shard(s) -> ${r.dir}`,
  ].join('\n');
}
