// A record as the page shows it: box ids stay put while people change a box's status, a box
// people took out is still shown, and verdicts applied by the merge or on top of it give the
// same view.
import type { HumanVerdict } from '../../schemas/generated/types';
import type { OdvgRecord } from '../sinks/odvg';
import { applyVerdicts } from './apply-verdicts';
import { newVerdict } from './human-verdicts';
import { originsOf, recordView } from './review-view';

const SHA = 'c'.repeat(64);
const labels = new Map([
  ['cat', 0],
  ['dog', 1],
]);
const labelOf = (c: string) => labels.get(c);
const record: OdvgRecord = {
  filename: `images/cc/${SHA}.png`,
  width: 100,
  height: 80,
  detection: { instances: [{ bbox: [1, 1, 20, 20], label: 0, category: 'cat' }] },
  valor: {
    pseudoLabels: ['pl-1'],
    queries: ['q-1'],
    verifierVersions: ['v1'],
    negatives: [{ bbox: [30, 30, 60, 60], category: 'dog', stage: 'CROP', reason: 'only a tail' }],
  },
};
const v = (action: HumanVerdict['action'], category: string, bbox: number[], at: number, vlm: HumanVerdict['vlmDecision'], newLabel: string | null = null) =>
  newVerdict(
    {
      reviewer: 'ann',
      action,
      imageSha256: SHA,
      filename: record.filename,
      imageWidth: 100,
      imageHeight: 80,
      box: { x1: bbox[0]!, y1: bbox[1]!, x2: bbox[2]!, y2: bbox[3]!, category },
      newLabel,
      vlmDecision: vlm,
      rejectedAt: vlm === 'REJECTED' ? 'CROP' : null,
      pseudoLabelIds: ['pl-1'],
      verifierVersions: ['v1'],
      audit: false,
    },
    at,
  );

describe('recordView', () => {
  const verdicts = [
    v('REJECT', 'cat', [1, 1, 20, 20], 1, 'ACCEPTED'),
    v('ACCEPT', 'dog', [30, 30, 60, 60], 2, 'REJECTED'),
    v('RELABEL', 'dog', [30, 30, 60, 60], 3, 'REJECTED', 'cat'),
    v('ADD', 'dog', [5, 40, 25, 70], 4, 'NONE'),
  ];

  it('shows verifier decisions with stable ids, and what people changed on top', () => {
    const plain = recordView(record, 7, [], labelOf);
    expect(plain).toMatchObject({ index: 7, sha256: SHA, imageUrl: `/images/cc/${SHA}.png`, pseudoLabels: ['pl-1'], verifierVersions: ['v1'] });
    expect(plain.boxes.map((b) => [b.id, b.status, b.stage, b.reason, b.human])).toEqual([
      ['a|cat|1,1,20,20', 'accepted', null, null, null],
      ['n|dog|30,30,60,60|CROP', 'rejected', 'CROP', 'only a tail', null],
    ]);
    const after = recordView(record, 7, verdicts.slice(0, 2), labelOf);
    // The same ids, the statuses swapped: the person's REJECT shown as a rejected box with no stage.
    expect(after.boxes.map((b) => [b.id, b.status, b.stage, b.human?.action])).toEqual([
      ['n|dog|30,30,60,60|CROP', 'accepted', null, 'ACCEPT'],
      ['a|cat|1,1,20,20', 'rejected', null, 'REJECT'],
    ]);
    const all = recordView(record, 7, verdicts, labelOf);
    expect(all.boxes.map((b) => [b.id, b.status, b.human?.action ?? null])).toEqual([
      ['h|cat|30,30,60,60', 'accepted', 'RELABEL'],
      ['h|dog|5,40,25,70', 'accepted', 'ADD'],
      ['a|cat|1,1,20,20', 'rejected', 'REJECT'],
      ['n|dog|30,30,60,60|CROP', 'rejected', 'RELABEL'], // the verifier's negative again, marked as relabelled
    ]);
  });

  it('is the same whether the merge applied the verdicts or the server applies them on top', () => {
    const merged = applyVerdicts({ boxes: [{ category: 'cat', bbox: [1, 1, 20, 20], label: 0 }], negatives: record.valor!.negatives }, verdicts, labelOf);
    const rebuilt: OdvgRecord = {
      ...record,
      detection: { instances: merged.boxes.map((b) => ({ bbox: b.bbox, label: b.label, category: b.category })) },
      valor: { ...record.valor!, negatives: merged.negatives, human: merged.applied },
    };
    expect(recordView(rebuilt, 7, verdicts, labelOf)).toEqual(recordView(record, 7, verdicts, labelOf));
  });

  it('records the origin of a box from its first verdict; a relabel or a drawn box is a person’s', () => {
    const o = originsOf(verdicts);
    expect(o.get('cat\u00001,1,20,20')).toEqual({ vlmDecision: 'ACCEPTED', rejectedAt: null });
    expect(o.get('dog\u000030,30,60,60')).toEqual({ vlmDecision: 'REJECTED', rejectedAt: 'CROP' });
    expect(o.get('cat\u000030,30,60,60')).toEqual({ vlmDecision: 'NONE', rejectedAt: null });
    expect(o.get('dog\u00005,40,25,70')).toEqual({ vlmDecision: 'NONE', rejectedAt: null });
  });
});
