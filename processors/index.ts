// The processor registry: every processor kind the topologies can name.
import type { ProcessorSpec } from '../core/processor';
import { passthrough } from './passthrough';
import { plan } from './plan';
import { detect } from './detect';
import { verify } from './verify';
import { reward } from './reward';
import { rewardGroup } from './reward-group';

export const PROCESSORS: Record<string, ProcessorSpec<any, any>> = {
  [passthrough.kind]: passthrough,
  [plan.kind]: plan,
  [detect.kind]: detect,
  [verify.kind]: verify,
  [reward.kind]: reward,
  [rewardGroup.kind]: rewardGroup,
};

export function lookupProcessor(kind: string): ProcessorSpec<any, any> | undefined {
  return PROCESSORS[kind];
}
