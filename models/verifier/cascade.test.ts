import { keptIndices, notesByIndex, runCascade, CascadeAsk, CallInfo, ListAnswer, CropAnswer } from './cascade';
import type { ProposedBox as Box } from '../detector/postprocess';

const box = (label: string, x: number): Box => ({ x1: x, y1: 10, x2: x + 20, y2: 30, label, score: 0.2 });
const info = (raw = '{}'): CallInfo => ({ raw, cached: false, calls: 1, inputTokens: 10, outputTokens: 2, costUsd: 0.001 });

/** A scripted verifier that records what each stage was shown. */
function scripted(s: { coarse?: ListAnswer; crop?: (b: Box, i: number) => CropAnswer; final?: ListAnswer }) {
  const seen = { coarse: [] as Box[][], crop: [] as Array<[string, number]>, final: [] as Box[][] };
  const ask: CascadeAsk = {
    coarse: async (boxes) => (seen.coarse.push(boxes), { answer: s.coarse!, info: info() }),
    crop: async (b, i) => (seen.crop.push([b.label, i]), { answer: s.crop!(b, i), info: info() }),
    final: async (boxes) => (seen.final.push(boxes), { answer: s.final!, info: info() }),
  };
  return { ask, seen };
}

describe('runCascade', () => {
  const boxes = [box('mug', 0), box('mug', 5), box('laptop', 100), box('cat', 200)];

  it('makes no calls and no stages for an empty proposal set', async () => {
    const { ask, seen } = scripted({});
    const r = await runCascade([], ask);
    expect(r).toEqual({ stages: [], accepted: [], rejected: [] });
    expect(seen.coarse).toHaveLength(0);
  });

  it('keeps and drops per stage, renumbers survivors for stage 3 and maps its answer back', async () => {
    const { ask, seen } = scripted({
      coarse: { keep_indices: [1, 2, 3], drop_indices: [4], notes: ['4: no cat in the image'] },
      // Box 3 (laptop) fails its crop; 1 and 2 pass.
      crop: (b) => (b.label === 'laptop' ? { keep: false, reason: 'truncated' } : { keep: true, reason: 'clear mug' }),
      // Stage 3 sees [box1, box2] as 1..2 and keeps its #2, i.e. proposal box 2.
      final: { keep_indices: [2], drop_indices: [1], notes: ['1: duplicate of 2'] },
    });
    const r = await runCascade(boxes, ask);
    expect(seen.crop).toEqual([
      ['mug', 1],
      ['mug', 2],
      ['laptop', 3],
    ]);
    expect(seen.final[0]).toEqual([boxes[0], boxes[1]]);
    expect(r.accepted).toEqual([2]);
    expect(r.rejected).toEqual([
      { boxIndex: 1, stage: 'FINAL', reason: 'duplicate of 2' },
      { boxIndex: 3, stage: 'CROP', reason: 'truncated' },
      { boxIndex: 4, stage: 'COARSE', reason: 'no cat in the image' },
    ]);
    expect(r.stages.map((s) => s.stage)).toEqual(['COARSE', 'CROP', 'FINAL']);
    expect(r.stages[1]!.verdicts.map((v) => [v.boxIndex, v.keep])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(r.stages[2]!.verdicts.map((v) => [v.boxIndex, v.keep])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(r.stages[1]!.calls).toHaveLength(3);
  });

  it('skips stage 3 when nothing survives stage 2, and stages 2-3 when stage 1 keeps nothing', async () => {
    const noCrop = scripted({ coarse: { keep_indices: [1], drop_indices: [], notes: [] }, crop: () => ({ keep: false, reason: 'wrong class' }) });
    const r1 = await runCascade(boxes, noCrop.ask);
    expect(r1.stages.map((s) => s.stage)).toEqual(['COARSE', 'CROP']);
    expect(noCrop.seen.final).toHaveLength(0);
    expect(r1.accepted).toEqual([]);
    expect(r1.rejected.map((x) => [x.boxIndex, x.stage])).toEqual([
      [1, 'CROP'],
      [2, 'COARSE'],
      [3, 'COARSE'],
      [4, 'COARSE'],
    ]);

    const none = scripted({ coarse: { keep_indices: [], drop_indices: [1, 2, 3, 4], notes: [] } });
    const r2 = await runCascade(boxes, none.ask);
    expect(r2.stages.map((s) => s.stage)).toEqual(['COARSE']);
    expect(none.seen.crop).toHaveLength(0);
    expect(r2.rejected.every((x) => x.stage === 'COARSE' && x.reason === 'dropped at coarse review')).toBe(true);
  });

  it('reads keep_indices as 1-based and ignores out-of-range, zero and repeated indices', async () => {
    const { ask, seen } = scripted({
      coarse: { keep_indices: [0, 2, 2, 9, -1], drop_indices: [], notes: [] },
      crop: () => ({ keep: true, reason: '' }),
      final: { keep_indices: [1, 5], drop_indices: [], notes: [] },
    });
    const r = await runCascade(boxes, ask);
    expect(seen.crop).toEqual([['mug', 2]]);
    expect(r.accepted).toEqual([2]);
  });

  it('a box kept at every stage is accepted even if the model also lists it in drop_indices', async () => {
    const { ask } = scripted({
      coarse: { keep_indices: [1], drop_indices: [1], notes: [] },
      crop: () => ({ keep: true, reason: '' }),
      final: { keep_indices: [1], drop_indices: [], notes: [] },
    });
    expect((await runCascade([boxes[0]!], ask)).accepted).toEqual([1]);
  });
});

describe('answer helpers', () => {
  it('keptIndices keeps only integers within 1..n', () => {
    expect([...keptIndices({ keep_indices: [1, 3, 4, 0], drop_indices: [], notes: [] }, 3)].sort()).toEqual([1, 3]);
  });
  it('notesByIndex reads "<i>: reason" notes and keeps the rest as general notes', () => {
    const r = notesByIndex(['2: too loose', '#3) chops the object', 'all boxes look fine otherwise']);
    expect([...r.byIndex]).toEqual([
      [2, 'too loose'],
      [3, 'chops the object'],
    ]);
    expect(r.general).toEqual(['all boxes look fine otherwise']);
  });
});
