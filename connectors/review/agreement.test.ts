// Agreement between people and the VLM verifier over a crafted verdict log: the latest
// verdict per box counts, ADDs do not, audit counts only audit verdicts; through
// GET /api/agreement of a server reading that log.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HumanVerdict } from '../../schemas/generated/types';
import { MERGED_FILE } from '../sinks/odvg-merge';
import { agreementOf } from './agreement';
import { newVerdict, type HumanVerdictLog } from './human-verdicts';
import { startReviewServer } from './review-server';
import { wilson } from './wilson';

const SHA = 'b'.repeat(64);
let n = 0;
function v(action: HumanVerdict['action'], vlm: HumanVerdict['vlmDecision'], x: number, at: number, audit = false): HumanVerdict {
  return newVerdict(
    {
      reviewer: 'ann',
      action,
      imageSha256: SHA,
      filename: `images/bb/${SHA}.png`,
      imageWidth: 200,
      imageHeight: 100,
      box: { x1: x, y1: 10, x2: x + 10, y2: 20, category: 'cat' },
      newLabel: action === 'RELABEL' ? 'dog' : null,
      vlmDecision: vlm,
      rejectedAt: vlm === 'REJECTED' ? 'CROP' : null,
      pseudoLabelIds: [`pl-${n++}`],
      verifierVersions: ['v1'],
      audit,
    },
    at,
  );
}

// Boxes by x: 1 accepted, rejected by a person, then accepted again (latest: ACCEPT, agrees);
// 2 accepted, relabelled (disagrees); 3 accepted, accepted in audit (agrees); 4 accepted,
// rejected (disagrees); 5 rejected, rejected in audit (agrees); 6 rejected, put back
// (disagrees); 7 rejected, relabelled (agrees: not a cat); 8 drawn (not counted).
const LOG = [
  v('REJECT', 'ACCEPTED', 1, 1),
  v('ACCEPT', 'ACCEPTED', 1, 2),
  v('RELABEL', 'ACCEPTED', 2, 3),
  v('ACCEPT', 'ACCEPTED', 3, 4, true),
  v('REJECT', 'ACCEPTED', 4, 5),
  v('REJECT', 'REJECTED', 5, 6, true),
  v('ACCEPT', 'REJECTED', 6, 7),
  v('RELABEL', 'REJECTED', 7, 8),
  v('ADD', 'NONE', 8, 9),
];

describe('agreement', () => {
  it('counts the latest verdict per box, with Wilson intervals, and audit verdicts apart', () => {
    const a = agreementOf(LOG);
    expect(a.accepted).toEqual({ reviewed: 4, confirmed: 2, ...wilson(2, 4) });
    expect(a.accepted.rate).toBe(0.5);
    expect(a.rejected).toEqual({ reviewed: 3, confirmed: 2, ...wilson(2, 3) });
    expect(a.audit.accepted).toEqual({ reviewed: 1, confirmed: 1, ...wilson(1, 1) });
    expect(a.audit.rejected).toEqual({ reviewed: 1, confirmed: 1, ...wilson(1, 1) });
    // Order in the log does not matter, only time: the box-1 ACCEPT is still the latest.
    expect(agreementOf([...LOG].reverse()).accepted).toEqual(a.accepted);
    expect(agreementOf([])).toEqual({
      accepted: { reviewed: 0, confirmed: 0, rate: null, low: null, high: null },
      rejected: { reviewed: 0, confirmed: 0, rate: null, low: null, high: null },
      audit: {
        accepted: { reviewed: 0, confirmed: 0, rate: null, low: null, high: null },
        rejected: { reviewed: 0, confirmed: 0, rate: null, low: null, high: null },
      },
    });
  });

  it('is what GET /api/agreement answers over the log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'review-agree-'));
    fs.mkdirSync(path.join(dir, 'merged'));
    fs.writeFileSync(path.join(dir, 'label_map.json'), JSON.stringify({ 0: 'cat', 1: 'dog' }));
    const record = { filename: `images/bb/${SHA}.png`, width: 200, height: 100, detection: { instances: [] } };
    fs.writeFileSync(path.join(dir, MERGED_FILE), JSON.stringify(record) + '\n');
    const log: HumanVerdictLog = { append: async () => undefined, all: async () => LOG, close: async () => undefined };
    const server = await startReviewServer({ datasetDir: dir, log });
    try {
      const got = await (await fetch(server.url + 'api/agreement')).json();
      expect(got).toEqual(JSON.parse(JSON.stringify(agreementOf(LOG))));
      expect((got as { accepted: { low: number } }).accepted.low).toBeCloseTo(0.15, 2); // 2 of 4: [0.150, 0.850]
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
