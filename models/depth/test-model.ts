// A tiny stand-in for a depth model (Depth Anything's Hugging Face export), for tests and
// demos where the real weights cannot be downloaded. Same input/output names, dtypes and
// dynamic shapes; its output is a documented function of its input so tests can compute the
// expected depth without running our code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { floatT, int, ints, node, T, valueInfo } from '../onnx-graph';
import { sha256Hex } from '../../core/ids';

/** The constant the stand-in adds (see buildTestDepthModel). */
export const TEST_DEPTH_OFFSET = 3;

export interface TestDepthModelOptions {
  /** Emit predicted_depth as [batch,1,height,width] (some exports keep the channel axis). */
  keepChannel?: boolean;
  /** Rename the input, to exercise the name check. Default 'pixel_values'. */
  inputName?: string;
  /** Rename the output, to exercise the name check. Default 'predicted_depth'. */
  outputName?: string;
  /** Declare a fixed square input (and output) size instead of dynamic height/width. */
  fixedSize?: number;
}

/**
 * predicted_depth[b,y,x] = 3 + mean over c of pixel_values[b,c,y,x].
 *
 * On ImageNet-normalised input every channel lies in [-2.118, 2.640], so the output stays in
 * [0.88, 5.64]: positive (a valid disparity or depth) and brighter pixels give larger values.
 * E.g. black = 3 + mean_c((0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]) ≈ 1.0140 and
 * white = 3 + mean_c((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]) ≈ 5.4392.
 */
export function buildTestDepthModel(opts: TestDepthModelOptions = {}): Buffer {
  const input = opts.inputName ?? 'pixel_values';
  const output = opts.outputName ?? 'predicted_depth';
  const keep = opts.keepChannel ?? false;
  const h = opts.fixedSize ?? 'height';
  const w = opts.fixedSize ?? 'width';
  const nodes = [
    // ReduceMean takes axes as an attribute up to opset 17 (an input from 18 on).
    node('ReduceMean', [input], ['m'], [ints('axes', [1]), int('keepdims', keep ? 1 : 0)]),
    node('Add', ['m', 'offset'], [output]),
  ];
  const graph = onnx.GraphProto.create({
    name: 'depth-test',
    node: nodes,
    initializer: [floatT('offset', [], Float32Array.of(TEST_DEPTH_OFFSET))],
    input: [valueInfo(input, T.FLOAT, ['batch_size', 3, h, w])],
    output: [valueInfo(output, T.FLOAT, keep ? ['batch_size', 1, h, w] : ['batch_size', h, w])],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'valor-stream test depth model',
    opsetImport: [onnx.OperatorSetIdProto.create({ version: 17 })],
    graph,
  });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}

/** Writes the stand-in into `dir` (only when the file differs, so repeated calls are cheap and safe). */
export function writeTestDepthModel(dir: string, opts: TestDepthModelOptions = {}): { path: string; sha256: string } {
  fs.mkdirSync(dir, { recursive: true });
  const variant = [opts.keepChannel ? 'nchw' : '', opts.inputName ?? '', opts.outputName ?? '', opts.fixedSize ? `fixed${opts.fixedSize}` : '']
    .filter(Boolean)
    .join('-');
  const file = path.join(dir, variant ? `depth-test-${variant}.onnx` : 'depth-test.onnx');
  const bytes = buildTestDepthModel(opts);
  let same = false;
  try {
    same = fs.readFileSync(file).equals(bytes);
  } catch {
    // missing or unreadable: write it
  }
  if (!same) fs.writeFileSync(file, bytes);
  return { path: file, sha256: sha256Hex(bytes) };
}
