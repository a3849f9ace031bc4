// The processor registry: every processor kind the topologies can name.
import type { AnyProcessorSpec } from '../core/processor';
import { passthrough } from './passthrough';
import { plan } from './plan';
import { detect } from './detect';
import { verify } from './verify';
import { verifyBatch } from './verify-batch';
import { reward } from './reward';
import { rewardBatch } from './reward-batch';
import { rewardGroup } from './reward-group';
import { answer } from './answer';

export const PROCESSORS: Record<string, AnyProcessorSpec> = {
  [passthrough.kind]: passthrough,
  [plan.kind]: plan,
  [detect.kind]: detect,
  [verify.kind]: verify,
  [verifyBatch.kind]: verifyBatch,
  [reward.kind]: reward,
  [rewardBatch.kind]: rewardBatch,
  [rewardGroup.kind]: rewardGroup,
  [answer.kind]: answer,
};

export function lookupProcessor(kind: string): AnyProcessorSpec | undefined {
  return PROCESSORS[kind];
}
