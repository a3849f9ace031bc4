import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildTestDetectorModel, DetectorLayout, TEST_QUERIES, TEST_VOCAB, testModelSpec, testTokenizerJson, writeTestDetector } from './test-model';

// Written out here, not taken from grounding-dino.ts, so the fixture is checked against
// the real exports' signatures rather than against our own reading of them.
const IO: Record<DetectorLayout, { inputs: string[]; outputs: string[] }> = {
  original: { inputs: ['img', 'input_ids', 'attention_mask', 'position_ids', 'token_type_ids', 'text_token_mask'], outputs: ['logits', 'boxes'] },
  huggingface: { inputs: ['pixel_values', 'input_ids', 'token_type_ids', 'attention_mask', 'pixel_mask'], outputs: ['logits', 'pred_boxes'] },
};

const i64 = (values: ArrayLike<number>, dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(Array.from(values), BigInt), dims);

/** Feeds for one layout; `mask` is [B,T] of 0/1. */
function feeds(layout: DetectorLayout, image: Float32Array, B: number, H: number, W: number, mask: number[]): Record<string, ort.Tensor> {
  const T = mask.length / B;
  const ids = i64(
    Array.from({ length: B * T }, (_, i) => (i * 5) % TEST_VOCAB.length),
    [B, T],
  );
  const zeros = (dims: number[]) => new ort.Tensor('int64', new BigInt64Array(dims.reduce((a, b) => a * b, 1)), dims);
  if (layout === 'original') {
    return {
      img: new ort.Tensor('float32', image, [B, 3, H, W]),
      input_ids: ids,
      attention_mask: new ort.Tensor('bool', Uint8Array.from(mask), [B, T]),
      position_ids: i64(
        Array.from({ length: B * T }, (_, i) => i % T),
        [B, T],
      ),
      token_type_ids: zeros([B, T]),
      text_token_mask: new ort.Tensor('bool', new Uint8Array(B * T * T).fill(1), [B, T, T]),
    };
  }
  return {
    pixel_values: new ort.Tensor('float32', image, [B, 3, H, W]),
    input_ids: ids,
    token_type_ids: zeros([B, T]),
    attention_mask: i64(mask, [B, T]),
    pixel_mask: i64(new Array(B * H * W).fill(1), [B, H, W]),
  };
}

describe('testModelSpec', () => {
  it('follows its documented definition', () => {
    const s = testModelSpec();
    expect(s.alpha).toBe(0.5);
    expect(s.A.length).toBe(TEST_QUERIES * 256);
    expect(s.spans).toHaveLength(192);
    for (let q = 0; q < TEST_QUERIES; q++) {
      const start = 1 + (q % 48);
      const length = 1 + Math.floor(q / 48);
      if (q < 192) expect(s.spans[q]).toEqual({ query: q, start, length });
      for (let t = 0; t < 256; t++) {
        const lit = q < 192 && t >= start && t < start + length;
        if (s.A[q * 256 + t] !== (lit ? 3 : -8)) throw new Error(`A[${q}][${t}] = ${s.A[q * 256 + t]}`);
      }
      const [cx, cy, w, h] = s.boxes.subarray(q * 4, q * 4 + 4);
      for (const v of [cx!, cy!]) expect(v >= 0.2 && v <= 0.8).toBe(true);
      for (const v of [w!, h!]) expect(v >= 0.05 && v <= 0.3).toBe(true);
    }
    // deterministic per seed, different across seeds
    expect(testModelSpec().boxes).toEqual(s.boxes);
    expect(testModelSpec(8).boxes).not.toEqual(s.boxes);
  });
});

describe('the generated test detector', () => {
  it.each(['original', 'huggingface'] as const)('has the GroundingDINO %s I/O and computes its documented function', async (layout) => {
    const s = await ort.InferenceSession.create(buildTestDetectorModel(layout));
    // Exact order too: every input survives ORT's graph optimisation.
    expect([...s.inputNames]).toEqual(IO[layout].inputs);
    expect([...s.outputNames]).toEqual(IO[layout].outputs);

    const B = 2,
      H = 24,
      W = 32,
      T = 8;
    const plane = H * W;
    const image = new Float32Array(B * 3 * plane);
    image.fill(0.25, 0, 3 * plane); // item 0: mean 0.25
    image.fill(-1, 3 * plane, 4 * plane); // item 1: channels -1, 0.5, 2, mean 0.5 (checks C is in the mean)
    image.fill(0.5, 4 * plane, 5 * plane);
    image.fill(2, 5 * plane, 6 * plane);
    const means = [0.25, 0.5];
    const mask = Array.from({ length: B * T }, (_, i) => (i >= T + T - 2 ? 0 : 1)); // item 1: last 2 masked

    const out = await s.run(feeds(layout, image, B, H, W, mask));
    const logits = out.logits!;
    const boxes = out[IO[layout].outputs[1]!]!;
    expect(logits.type).toBe('float32');
    expect(boxes.type).toBe('float32');
    expect(logits.dims).toEqual([B, TEST_QUERIES, T]);
    expect(boxes.dims).toEqual([B, TEST_QUERIES, 4]);

    const spec = testModelSpec();
    const L = logits.data as Float32Array;
    let worst = 0;
    for (let b = 0; b < B; b++) {
      for (let q = 0; q < TEST_QUERIES; q++) {
        for (let t = 0; t < T; t++) {
          const m = mask[b * T + t]!;
          const expected = (spec.A[q * 256 + t]! + spec.alpha * means[b]!) * m + (m - 1) * 100;
          worst = Math.max(worst, Math.abs(L[(b * TEST_QUERIES + q) * T + t]! - expected));
        }
      }
    }
    expect(worst).toBeLessThan(1e-4);
    // spot values: a lit token, an unlit one, a masked one
    expect(L[(0 * TEST_QUERIES + 0) * T + 1]).toBeCloseTo(3 + 0.5 * 0.25, 4);
    expect(L[(1 * TEST_QUERIES + 0) * T + 2]).toBeCloseTo(-8 + 0.5 * 0.5, 4);
    expect(L[(1 * TEST_QUERIES + 0) * T + 7]).toBeCloseTo(-100, 4);

    const Bx = boxes.data as Float32Array;
    for (let b = 0; b < B; b++) expect(Bx.subarray(b * TEST_QUERIES * 4, (b + 1) * TEST_QUERIES * 4)).toEqual(spec.boxes);
  });

  it.each(['original', 'huggingface'] as const)('%s: rejects a feed with the wrong dtype or rank, as the real export would', async (layout) => {
    const s = await ort.InferenceSession.create(buildTestDetectorModel(layout));
    const good = () => feeds(layout, new Float32Array(3 * 4), 1, 2, 2, [1, 1, 1]);
    // the attention mask dtype is what tells the two exports apart
    const f1 = good();
    f1.attention_mask = layout === 'original' ? i64([1, 1, 1], [1, 3]) : new ort.Tensor('bool', Uint8Array.of(1, 1, 1), [1, 3]);
    await expect(s.run(f1)).rejects.toThrow(/Unexpected input data type/);
    // an input the math does not use is still checked
    const other = layout === 'original' ? 'text_token_mask' : 'pixel_mask';
    const f2 = good();
    f2[other] = new ort.Tensor('float32', new Float32Array(f2[other]!.size), f2[other]!.dims);
    await expect(s.run(f2)).rejects.toThrow(/Unexpected input data type/);
    const f3 = good();
    f3[other] = new ort.Tensor(f3[other]!.type, f3[other]!.data, [f3[other]!.size]);
    await expect(s.run(f3)).rejects.toThrow(new RegExp(`Invalid rank for input: ${other}`));
  });

  it('fails on more than 256 tokens, like the real model', async () => {
    const s = await ort.InferenceSession.create(buildTestDetectorModel('huggingface'), { logSeverityLevel: 4 });
    await expect(s.run(feeds('huggingface', new Float32Array(3 * 4), 1, 2, 2, new Array(257).fill(1)))).rejects.toThrow(/broadcast/);
  });

  it.each(['original', 'huggingface'] as const)('%s: accepts the full 256-token text length', async (layout) => {
    const s = await ort.InferenceSession.create(buildTestDetectorModel(layout));
    const out = await s.run(feeds(layout, new Float32Array(3 * 4).fill(1), 1, 2, 2, new Array(256).fill(1)));
    expect(out.logits!.dims).toEqual([1, TEST_QUERIES, 256]);
    const L = out.logits!.data as Float32Array;
    // query 191 lights tokens 48..51; token 255 is only ever -8
    expect(L[191 * 256 + 51]).toBeCloseTo(3.5, 4);
    expect(L[191 * 256 + 255]).toBeCloseTo(-7.5, 4);
  });
});

describe('the test tokenizer', () => {
  // @huggingface/tokenizers is ESM-only: jest's module loader cannot load it, Node's own
  // require(esm) (Node >= 20.19) can.
  const { Tokenizer } = createRequire(__filename)('@huggingface/tokenizers') as {
    Tokenizer: new (json: object, config: object) => { encode(text: string): { ids: number[]; tokens: string[] } };
  };
  const tok = new Tokenizer(testTokenizerJson(), {});
  const id = (t: string) => {
    const i = TEST_VOCAB.indexOf(t);
    if (i < 0) throw new Error(`not in vocab: ${t}`);
    return i;
  };

  it('has the BERT special tokens at their usual ids', () => {
    expect(TEST_VOCAB.slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    expect(new Set(TEST_VOCAB).size).toBe(TEST_VOCAB.length);
  });

  it('wraps a caption in [CLS] ... [SEP]', () => {
    expect(tok.encode('the running dog .').ids).toEqual([2, id('the'), id('running'), id('dog'), id('.'), 3]);
  });

  it('splits punctuation, lowercases and falls back to word pieces and [UNK]', () => {
    const e = tok.encode('red-circle . blue-square .');
    expect(e.tokens).toEqual(['[CLS]', 'red', '-', 'circle', '.', 'blue', '-', 'square', '.', '[SEP]']);
    expect(e.ids).toEqual([2, id('red'), id('-'), id('circle'), id('.'), id('blue'), id('-'), id('square'), id('.'), 3]);
    expect(tok.encode('Dogs RUNS zebra').tokens).toEqual(['[CLS]', 'dog', '##s', 'run', '##s', '[UNK]', '[SEP]']);
  });

  it('is written to disk with the models', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gdino-test-'));
    try {
      const p = writeTestDetector(path.join(dir, 'nested', 'models'));
      expect(path.basename(p.original)).toBe('gdino-test-original.onnx');
      expect(path.basename(p.huggingface)).toBe('gdino-test-hf.onnx');
      // Buffer.equals: jest's deep equality walks 0.9 MB byte by byte (seconds)
      expect(fs.readFileSync(p.original).equals(buildTestDetectorModel('original'))).toBe(true);
      expect(fs.readFileSync(p.huggingface).equals(buildTestDetectorModel('huggingface'))).toBe(true);
      expect(JSON.parse(fs.readFileSync(p.tokenizerJson, 'utf8'))).toEqual(testTokenizerJson());
      expect(fs.readFileSync(p.vocabTxt, 'utf8').split('\n').filter(Boolean)).toEqual(TEST_VOCAB);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
