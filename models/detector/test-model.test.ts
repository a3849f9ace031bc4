import * as ort from 'onnxruntime-node';
import { buildTestDetectorModel, testModelSpec, TEST_QUERIES } from './test-model';
import { LAYOUTS } from './grounding-dino';

describe('the generated test detector', () => {
  it.each(['original', 'huggingface'] as const)('has GroundingDINO %s I/O and computes its documented function', async (layout) => {
    const s = await ort.InferenceSession.create(buildTestDetectorModel(layout));
    expect([...s.inputNames].sort()).toEqual([...LAYOUTS[layout].inputs].sort());
    expect([...s.outputNames].sort()).toEqual([LAYOUTS[layout].logits, LAYOUTS[layout].boxes].sort());
    const B = 2, H = 4, W = 5, Tn = 8;
    const img = new Float32Array(B * 3 * H * W);
    img.fill(0.2, 0, 3 * H * W);
    img.fill(-1, 3 * H * W);
    const mask = Array.from({ length: B * Tn }, (_, i) => (i >= Tn + 6 ? 0 : 1));
    const ids = new ort.Tensor('int64', BigInt64Array.from({ length: B * Tn }, (_, i) => BigInt(i % 7)), [B, Tn]);
    const i64 = (n: number, dims: number[]) => new ort.Tensor('int64', new BigInt64Array(n), dims);
    const feeds: Record<string, ort.Tensor> =
      layout === 'original'
        ? {
            img: new ort.Tensor('float32', img, [B, 3, H, W]),
            input_ids: ids,
            attention_mask: new ort.Tensor('bool', Uint8Array.from(mask), [B, Tn]),
            position_ids: i64(B * Tn, [B, Tn]),
            token_type_ids: i64(B * Tn, [B, Tn]),
            text_token_mask: new ort.Tensor('bool', new Uint8Array(B * Tn * Tn), [B, Tn, Tn]),
          }
        : {
            pixel_values: new ort.Tensor('float32', img, [B, 3, H, W]),
            input_ids: ids,
            token_type_ids: i64(B * Tn, [B, Tn]),
            attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask, BigInt), [B, Tn]),
            pixel_mask: i64(B * H * W, [B, H, W]),
          };
    const out = await s.run(feeds);
    const logits = out.logits!;
    const boxes = out[LAYOUTS[layout].boxes]!;
    expect(logits.dims).toEqual([B, TEST_QUERIES, Tn]);
    expect(boxes.dims).toEqual([B, TEST_QUERIES, 4]);
    const spec = testModelSpec();
    const means = [0.2, -1];
    const L = logits.data as Float32Array;
    for (let b = 0; b < B; b++) {
      for (const q of [0, 5, 96, 191, 192, 899]) {
        for (let t = 0; t < Tn; t++) {
          const m = mask[b * Tn + t]!;
          const expected = (spec.A[q * 256 + t]! + spec.alpha * means[b]!) * m + (m - 1) * 100;
          expect(L[(b * TEST_QUERIES + q) * Tn + t]).toBeCloseTo(expected, 4);
        }
      }
    }
    const Bx = boxes.data as Float32Array;
    expect(Array.from(Bx.subarray(TEST_QUERIES * 4, TEST_QUERIES * 4 + 8))).toEqual(Array.from(spec.boxes.subarray(0, 8)));
  });

  it('accepts the full 256-token text length', async () => {
    const s = await ort.InferenceSession.create(buildTestDetectorModel('huggingface'));
    const out = await s.run({
      pixel_values: new ort.Tensor('float32', new Float32Array(3 * 2 * 2), [1, 3, 2, 2]),
      input_ids: new ort.Tensor('int64', new BigInt64Array(256), [1, 256]),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(256), [1, 256]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(256).fill(1n), [1, 256]),
      pixel_mask: new ort.Tensor('int64', new BigInt64Array(4), [1, 2, 2]),
    });
    expect(out.logits!.dims).toEqual([1, TEST_QUERIES, 256]);
  });
});
