// A tiny stand-in for GroundingDINO, for tests, the demo and benchmarks where the real
// weights cannot be downloaded. It has the exact input/output names, dtypes and dynamic
// shapes of both common exports, and its outputs are a documented function of its inputs,
// so tests can compute the expected proposals without running our detector code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { floatT, int, int64T, ints, node, T, valueInfo } from '../onnx-graph';

export const TEST_QUERIES = 900;
export const TEST_MAX_TEXT = 256;
export type DetectorLayout = 'original' | 'huggingface';

export interface TestModelSpec {
  /** [900 x 256] row-major logit table before the image and mask terms. */
  A: Float32Array;
  /** [900 x 4] normalized cx, cy, w, h. */
  boxes: Float32Array;
  alpha: number;
  /** Active queries: each lights up tokens start..start+length-1. */
  spans: Array<{ query: number; start: number; length: number }>;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * logits[b,q,t] = (A[q,t] + alpha * mean(image[b])) * mask[b,t] + (mask[b,t] - 1) * 100,
 * boxes[b,q] = boxes[q]. Queries 0..191 each light a token span (start 1..48, length
 * 1..4) at +3; everything else is -8.
 */
export function testModelSpec(seed = 7): TestModelSpec {
  const A = new Float32Array(TEST_QUERIES * TEST_MAX_TEXT).fill(-8);
  const spans: TestModelSpec['spans'] = [];
  for (let q = 0; q < 192; q++) {
    const start = 1 + (q % 48);
    const length = 1 + Math.floor(q / 48);
    spans.push({ query: q, start, length });
    for (let t = start; t < start + length; t++) A[q * TEST_MAX_TEXT + t] = 3;
  }
  const rnd = mulberry32(seed);
  const boxes = new Float32Array(TEST_QUERIES * 4);
  for (let q = 0; q < TEST_QUERIES; q++) {
    boxes[q * 4] = 0.2 + 0.6 * rnd();
    boxes[q * 4 + 1] = 0.2 + 0.6 * rnd();
    boxes[q * 4 + 2] = 0.05 + 0.25 * rnd();
    boxes[q * 4 + 3] = 0.05 + 0.25 * rnd();
  }
  return { A, boxes, alpha: 0.5, spans };
}

/** The ONNX model for one layout, encoded. */
export function buildTestDetectorModel(layout: DetectorLayout, seed = 7): Buffer {
  const spec = testModelSpec(seed);
  const orig = layout === 'original';
  const img = orig ? 'img' : 'pixel_values';
  const boxesOut = orig ? 'boxes' : 'pred_boxes';
  const inputs = orig
    ? [
        valueInfo('img', T.FLOAT, ['batch_size', 3, 'height', 'width']),
        valueInfo('input_ids', T.INT64, ['batch_size', 'num_tokens']),
        valueInfo('attention_mask', T.BOOL, ['batch_size', 'num_tokens']),
        valueInfo('position_ids', T.INT64, ['batch_size', 'num_tokens']),
        valueInfo('token_type_ids', T.INT64, ['batch_size', 'num_tokens']),
        valueInfo('text_token_mask', T.BOOL, ['batch_size', 'num_tokens', 'num_tokens']),
      ]
    : [
        valueInfo('pixel_values', T.FLOAT, ['batch_size', 3, 'height', 'width']),
        valueInfo('input_ids', T.INT64, ['batch_size', 'num_tokens']),
        valueInfo('token_type_ids', T.INT64, ['batch_size', 'num_tokens']),
        valueInfo('attention_mask', T.INT64, ['batch_size', 'num_tokens']),
        valueInfo('pixel_mask', T.INT64, ['batch_size', 'height', 'width']),
      ];
  const unused = orig ? ['position_ids', 'token_type_ids', 'text_token_mask'] : ['token_type_ids', 'pixel_mask'];
  const nodes = [
    // mean over C,H,W -> [B,1,1,1]; drop one axis so it broadcasts against [900,T]
    node('ReduceMean', [img], ['m4'], [ints('axes', [1, 2, 3]), int('keepdims', 1)]),
    node('Squeeze', ['m4', 'ax3'], ['m3']), // [B,1,1]
    node('Mul', ['m3', 'alpha'], ['am']),
    // A[:, :T] with T from the runtime text length, so one model serves any T <= 256
    // (a longer T clamps to 256 and then fails to broadcast against the mask: an error)
    node('Shape', ['input_ids'], ['ids_shape']),
    node('Slice', ['ids_shape', 'one', 'two'], ['tlen']),
    node('Slice', ['A', 'zero', 'tlen', 'one'], ['A_T']), // [900,T]
    node('Cast', ['attention_mask'], ['maskf'], [int('to', T.FLOAT)]), // [B,T]
    node('Unsqueeze', ['maskf', 'one'], ['mask3']), // [B,1,T]
    node('Add', ['A_T', 'am'], ['shifted']), // [B,900,T]
    node('Mul', ['shifted', 'mask3'], ['kept']),
    node('Sub', ['mask3', 'onef'], ['minus']),
    node('Mul', ['minus', 'hundred'], ['penalty']),
    node('Add', ['kept', 'penalty'], ['logits0']),
  ];
  // Consume every other input (times zero) so ORT keeps it in the signature and rejects
  // a feed with the wrong dtype or rank, as the real model would.
  let acc = 'logits0';
  unused.forEach((name, i) => {
    nodes.push(node('Cast', [name], [`${name}_f`], [int('to', T.FLOAT)]));
    nodes.push(node('ReduceSum', [`${name}_f`], [`${name}_s`], [int('keepdims', 0)]));
    nodes.push(node('Mul', [`${name}_s`, 'zerof'], [`${name}_z`]));
    const out = i === unused.length - 1 ? 'logits' : `acc${i}`;
    nodes.push(node('Add', [acc, `${name}_z`], [out]));
    acc = out;
  });
  // boxes ignore the inputs; only the batch size comes from them
  nodes.push(node('Slice', ['ids_shape', 'zero', 'one'], ['batch']));
  nodes.push(node('Concat', ['batch', 'qdims'], ['box_shape'], [int('axis', 0)]));
  nodes.push(node('Expand', ['B', 'box_shape'], [boxesOut]));

  const graph = onnx.GraphProto.create({
    name: `gdino-test-${layout}`,
    node: nodes,
    initializer: [
      floatT('A', [TEST_QUERIES, TEST_MAX_TEXT], spec.A),
      floatT('B', [1, TEST_QUERIES, 4], spec.boxes),
      floatT('alpha', [], Float32Array.of(spec.alpha)),
      floatT('onef', [], Float32Array.of(1)),
      floatT('zerof', [], Float32Array.of(0)),
      floatT('hundred', [], Float32Array.of(100)),
      int64T('ax3', [3]),
      int64T('zero', [0]),
      int64T('one', [1]),
      int64T('two', [2]),
      int64T('qdims', [TEST_QUERIES, 4]),
    ],
    input: inputs,
    output: [valueInfo('logits', T.FLOAT, ['batch_size', TEST_QUERIES, 'num_tokens']), valueInfo(boxesOut, T.FLOAT, ['batch_size', TEST_QUERIES, 4])],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'valor-stream test detector',
    opsetImport: [onnx.OperatorSetIdProto.create({ version: 17 })],
    graph,
  });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}

/** A BERT-style vocabulary covering the synthetic corpus's words. */
export const TEST_VOCAB: string[] = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  '.',
  '?',
  ',',
  '-',
  '!',
  "'",
  'the',
  'a',
  'an',
  'of',
  'is',
  'left',
  'right',
  'above',
  'below',
  'larger',
  'which',
  'red',
  'green',
  'blue',
  'yellow',
  'circle',
  'square',
  'triangle',
  'star',
  'running',
  'dog',
  'cat',
  'mug',
  'laptop',
  'person',
  'car',
  'chair',
  'table',
  'tall',
  'lamp',
  'run',
  '##ning',
  '##s',
  '##ed',
];

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/**
 * bert-base-uncased's tokenizer.json structure over TEST_VOCAB. Written out here rather
 * than taken from ./tokenizer so the fixture does not depend on the code it tests.
 */
export function testTokenizerJson(): object {
  const vocab: Record<string, number> = {};
  TEST_VOCAB.forEach((t, i) => (vocab[t] = i));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content) => ({
      id: vocab[content],
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/** Writes both layouts plus tokenizer.json and vocab.txt into `dir`. */
export function writeTestDetector(dir: string, seed = 7): { original: string; huggingface: string; tokenizerJson: string; vocabTxt: string } {
  fs.mkdirSync(dir, { recursive: true });
  const out = {
    original: path.join(dir, 'gdino-test-original.onnx'),
    huggingface: path.join(dir, 'gdino-test-hf.onnx'),
    tokenizerJson: path.join(dir, 'tokenizer.json'),
    vocabTxt: path.join(dir, 'vocab.txt'),
  };
  fs.writeFileSync(out.original, buildTestDetectorModel('original', seed));
  fs.writeFileSync(out.huggingface, buildTestDetectorModel('huggingface', seed));
  fs.writeFileSync(out.tokenizerJson, JSON.stringify(testTokenizerJson()));
  fs.writeFileSync(out.vocabTxt, TEST_VOCAB.join('\n') + '\n');
  return out;
}
