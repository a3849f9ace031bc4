// How often people agree with the VLM verifier, from the verdict log. Per box (image, category,
// bbox) only the latest verdict counts, so a person who changes their mind is counted once,
// as they last decided. ADDs are left out: the verifier never saw a drawn box.
import type { HumanVerdict } from '../../schemas/generated/types';
import { wilson, type Proportion } from './wilson';

export interface AgreementRate extends Proportion {
  /** Boxes of this VLM decision a person reviewed (ACCEPT, REJECT or RELABEL). */
  reviewed: number;
  /** Of those, how many the person decided the same way. */
  confirmed: number;
}

export interface AgreementSet {
  /** Boxes the VLM accepted: the share people ACCEPTed, the pseudo-labels' precision. */
  accepted: AgreementRate;
  /**
   * Boxes the VLM rejected: the share people also rejected. A RELABEL counts as agreeing: the
   * person says the box is not what the verifier was asked about (the usual COARSE reason is
   * "wrong label: this is a …"), only something else.
   */
  rejected: AgreementRate;
}

export interface Agreement extends AgreementSet {
  /** The same over audit-mode verdicts only: a uniform sample, so an unbiased estimate. */
  audit: AgreementSet;
}

export const boxKeyOf = (v: HumanVerdict): string => `${v.imageSha256}\0${v.box.category}\0${v.box.x1},${v.box.y1},${v.box.x2},${v.box.y2}`;

function rate(confirmed: number, reviewed: number): AgreementRate {
  return { reviewed, confirmed, ...wilson(confirmed, reviewed) };
}

function setOf(verdicts: HumanVerdict[]): AgreementSet {
  const latest = new Map<string, HumanVerdict>();
  for (const v of verdicts) {
    if (v.action === 'ADD' || v.vlmDecision === 'NONE') continue;
    const k = boxKeyOf(v);
    const had = latest.get(k);
    if (!had || v.at > had.at || (v.at === had.at && v.id > had.id)) latest.set(k, v);
  }
  const n = { ACCEPTED: [0, 0], REJECTED: [0, 0] };
  for (const v of latest.values()) {
    const c = n[v.vlmDecision as 'ACCEPTED' | 'REJECTED'];
    c[1]!++;
    if (v.vlmDecision === 'ACCEPTED' ? v.action === 'ACCEPT' : v.action === 'REJECT' || v.action === 'RELABEL') c[0]!++;
  }
  return { accepted: rate(n.ACCEPTED[0]!, n.ACCEPTED[1]!), rejected: rate(n.REJECTED[0]!, n.REJECTED[1]!) };
}

export function agreementOf(verdicts: HumanVerdict[]): Agreement {
  return { ...setOf(verdicts), audit: setOf(verdicts.filter((v) => v.audit)) };
}
