import { categoriesOf, datasetEntry, datasetJson, labelMapJson, normalizeCategory, odvgBox, odvgSignature, parseLabelMap, toOdvg, vgCaption } from './odvg';
import type { PseudoLabel } from '../../schemas/generated/types';

const box = (label: string, x1: number, y1: number, x2: number, y2: number) => ({ x1, y1, x2, y2, label, score: 0.5 });
const label = (accepted: PseudoLabel['accepted']): PseudoLabel => ({
  id: 'pl-1',
  proposalsId: 'p-1',
  queryId: 'q-1',
  image: { uri: '/x.png', bytes: null, sha256: 'ab'.repeat(32), width: 100, height: 80, mediaType: 'image/png' },
  width: 100,
  height: 80,
  accepted,
  negatives: [],
  verifierVersion: 'v',
  usage: { calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 },
  createdAt: 0,
  lineage: { parents: [], producedBy: 'verify', producerVersion: '0', versions: {}, source: null },
});

describe('ODVG records', () => {
  it('normalises categories as the method says', () => {
    expect(normalizeCategory('  Red-Circle  ')).toBe('red circle');
    expect(normalizeCategory('big\t  blue--square')).toBe('big blue square');
  });

  it('rounds and clamps boxes to [0, W-1] x [0, H-1] and drops empty ones', () => {
    expect(odvgBox({ x1: -3.4, y1: 10.5, x2: 120, y2: 79.6 }, 100, 80)).toEqual([0, 11, 99, 79]);
    expect(odvgBox({ x1: 99.7, y1: 0, x2: 130, y2: 5 }, 100, 80)).toBeNull();
  });

  it('writes OD instances with label ids from the map and a signature independent of box order', () => {
    const ids = new Map([
      ['red circle', 0],
      ['blue square', 1],
    ]);
    const a = toOdvg(label([box('red-circle', 1, 2, 30, 40), box('Blue Square', 50, 10, 90, 70)]), 'images/ab/x.png', ids, {
      mode: 'od',
      keepNegativeOnly: true,
    })!;
    expect(a.record).toEqual({
      filename: 'images/ab/x.png',
      height: 80,
      width: 100,
      detection: {
        instances: [
          { bbox: [1, 2, 30, 40], label: 0, category: 'red circle' },
          { bbox: [50, 10, 90, 70], label: 1, category: 'blue square' },
        ],
      },
      valor: expect.objectContaining({ pseudoLabels: [expect.any(String)], queries: [expect.any(String)], negatives: [] }),
    });
    const b = toOdvg(label([box('Blue Square', 50, 10, 90, 70), box('red-circle', 1, 2, 30, 40)]), 'images/ab/x.png', ids, {
      mode: 'od',
      keepNegativeOnly: true,
    })!;
    expect(b.signature).toBe(a.signature);
    expect(a.signature).toMatch(/^[0-9a-f]{40}$/);
    expect(odvgSignature('images/ab/y.png', 100, 80, [])).not.toBe(odvgSignature('images/ab/x.png', 100, 80, []));
  });

  it('keeps or skips negative-only images by setting, and never writes empty VG regions', () => {
    const neg = label([]);
    expect(toOdvg(neg, 'f.png', new Map(), { mode: 'od', keepNegativeOnly: true })!.record.detection!.instances).toEqual([]);
    expect(toOdvg(neg, 'f.png', new Map(), { mode: 'od', keepNegativeOnly: false })).toBeNull();
    expect(toOdvg(neg, 'f.png', new Map(), { mode: 'vg', keepNegativeOnly: true })).toBeNull();
    const vg = toOdvg(label([box('red circle', 1, 2, 30, 40)]), 'f.png', new Map(), { mode: 'vg', keepNegativeOnly: false })!;
    expect(vg.record.grounding).toEqual({ caption: 'red circle .', regions: [{ bbox: [1, 2, 30, 40], phrase: 'red circle' }] });
  });

  it('fails loudly when a category has no id (a registry bug must not write wrong labels)', () => {
    expect(() => toOdvg(label([box('cat', 1, 2, 30, 40)]), 'f.png', new Map(), { mode: 'od', keepNegativeOnly: true })).toThrow(
      /no label id for category 'cat'/,
    );
  });

  it('lists categories in first-appearance order and writes string-keyed label maps', () => {
    expect(categoriesOf(label([box('b', 1, 1, 5, 5), box('a', 1, 1, 5, 5), box('B', 2, 2, 6, 6)]))).toEqual(['b', 'a']);
    expect(JSON.parse(labelMapJson(['x', 'y']))).toEqual({ '0': 'x', '1': 'y' });
    expect(JSON.parse(datasetJson([datasetEntry('/data', 'a.jsonl', 'label_map.json')]))).toEqual({
      train: [{ root: '/data', anno: 'a.jsonl', label_map: 'label_map.json', dataset_mode: 'odvg' }],
    });
  });

  it('builds VG captions from distinct phrases in first-appearance order', () => {
    expect(vgCaption(['dog', 'cat', 'dog'])).toBe('dog . cat .');
  });

  it('reads a label map back by id, and refuses keys that are not exactly 0..n-1', () => {
    expect(parseLabelMap(labelMapJson(['x', 'y', 'z']))).toEqual(['x', 'y', 'z']);
    expect(parseLabelMap('{"1": "b", "0": "a"}')).toEqual(['a', 'b']);
    expect(() => parseLabelMap('{"0": "a", "2": "c"}')).toThrow(/keys must be the ids 0..1/);
    expect(() => parseLabelMap('{"00": "a"}')).toThrow(/label map entry '00'/);
    expect(() => parseLabelMap('{"0": 5}')).toThrow(/values category names/);
    expect(() => parseLabelMap('["a"]')).toThrow(/JSON object/);
  });
});
