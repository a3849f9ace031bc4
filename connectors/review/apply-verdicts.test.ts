import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HumanVerdict } from '../../schemas/generated/types';
import { applyVerdicts } from './apply-verdicts';
import { FileHumanVerdictLog, HUMAN_VERDICTS_FILE, newVerdict, verdictsByImage } from './human-verdicts';

const SHA = 'a'.repeat(64);

function verdict(
  action: HumanVerdict['action'],
  category: string,
  bbox: [number, number, number, number],
  at: number,
  extra: Partial<HumanVerdict> = {},
): HumanVerdict {
  return {
    ...newVerdict(
      {
        reviewer: 'ann',
        action,
        imageSha256: SHA,
        filename: `images/aa/${SHA}.png`,
        imageWidth: 100,
        imageHeight: 80,
        box: { x1: bbox[0], y1: bbox[1], x2: bbox[2], y2: bbox[3], category },
        newLabel: (extra.newLabel as string | undefined) ?? null,
        vlmDecision: action === 'ADD' ? 'NONE' : 'ACCEPTED',
        rejectedAt: null,
        pseudoLabelIds: ['pl-1'],
        verifierVersions: ['v1'],
        audit: false,
      },
      at,
    ),
    ...extra,
  };
}

const labels = new Map([
  ['cat', 0],
  ['dog', 1],
]);
const labelOf = (c: string) => labels.get(c);

describe('applyVerdicts', () => {
  const image = {
    boxes: [
      { category: 'cat', bbox: [1, 1, 20, 20] as [number, number, number, number], label: 0 },
      { category: 'dog', bbox: [30, 30, 60, 60] as [number, number, number, number], label: 1 },
    ],
    negatives: [{ category: 'cat', bbox: [70, 10, 90, 30] as [number, number, number, number], stage: 'CROP' as const, reason: 'only a tail' }],
  };

  it('rejects, restores, relabels and adds, a person over the verifier', () => {
    const r = applyVerdicts(
      image,
      [
        verdict('REJECT', 'cat', [1, 1, 20, 20], 1),
        verdict('ACCEPT', 'cat', [70, 10, 90, 30], 2),
        verdict('RELABEL', 'dog', [30, 30, 60, 60], 3, { newLabel: 'cat' }),
        verdict('ADD', 'dog', [5, 40, 25, 70], 4),
      ],
      labelOf,
    );
    expect(r.boxes.map((b) => [b.category, b.bbox, b.label])).toEqual(
      expect.arrayContaining([
        ['cat', [70, 10, 90, 30], 0],
        ['cat', [30, 30, 60, 60], 0],
        ['dog', [5, 40, 25, 70], 1],
      ]),
    );
    expect(r.boxes).toHaveLength(3);
    expect(r.negatives).toEqual([]); // the restored box is no longer a negative
    expect(r.applied.map((a) => a.action)).toEqual(['REJECT', 'ACCEPT', 'RELABEL', 'ADD']);
  });

  it('applies each verdict once, in time order, and idempotently', () => {
    const reject = verdict('REJECT', 'cat', [1, 1, 20, 20], 1);
    const again = verdict('ACCEPT', 'cat', [1, 1, 20, 20], 2);
    const r = applyVerdicts(image, [reject, reject, again], labelOf);
    // The later ACCEPT puts it back; the duplicate REJECT did nothing.
    expect(r.boxes.some((b) => b.category === 'cat' && b.bbox[0] === 1)).toBe(true);
    expect(r.applied).toHaveLength(2);
    const ordered = verdictsByImage([again, reject, reject]).get(SHA)!;
    expect(ordered.map((v) => v.id)).toEqual([reject.id, again.id]);
  });

  it('skips a relabel to a category the training set does not know, saying why', () => {
    const r = applyVerdicts(image, [verdict('RELABEL', 'dog', [30, 30, 60, 60], 1, { newLabel: 'wolf' })], labelOf);
    expect(r.boxes).toHaveLength(2);
    expect(r.skipped).toEqual([{ id: expect.any(String), why: "category 'wolf' is not in the label map" }]);
  });
});

describe('FileHumanVerdictLog', () => {
  it('appends checked verdicts, reads them back once each, ignores a torn last line and names a bad one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hv-'));
    const log = new FileHumanVerdictLog(dir);
    expect(await log.all()).toEqual([]);
    const a = verdict('REJECT', 'cat', [1, 1, 20, 20], 1);
    await log.append(a);
    await log.append(a);
    await log.append(verdict('ADD', 'dog', [5, 5, 9, 9], 2));
    expect((await log.all()).map((v) => v.action)).toEqual(['REJECT', 'ADD']);
    fs.appendFileSync(path.join(dir, HUMAN_VERDICTS_FILE), '{"id":"torn');
    expect(await log.all()).toHaveLength(2);
    await expect(log.append({ ...a, box: { ...a.box, x2: 500 } })).rejects.toThrow(/outside the 100x80 image/);
    fs.writeFileSync(path.join(dir, HUMAN_VERDICTS_FILE), '{"id": 1}\n');
    await expect(log.all()).rejects.toThrow(/human-verdicts\.jsonl:1: not a HumanVerdict/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
