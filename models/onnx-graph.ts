// Small builders for ONNX graphs made in TypeScript with onnx-proto: the generated stand-in
// models (GroundingDINO's and a depth model's interfaces) that tests and the demo run.
import { onnx } from 'onnx-proto';

export const T = onnx.TensorProto.DataType;
const A_ = onnx.AttributeProto.AttributeType;

export function valueInfo(name: string, elemType: number, dims: Array<string | number>) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) =>
            typeof d === 'string' ? onnx.TensorShapeProto.Dimension.create({ dimParam: d }) : onnx.TensorShapeProto.Dimension.create({ dimValue: d }),
          ),
        }),
      }),
    }),
  });
}

export const node = (opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []) =>
  onnx.NodeProto.create({ opType, input, output, attribute });
export const ints = (name: string, v: number[]) => onnx.AttributeProto.create({ name, type: A_.INTS, ints: v });
export const int = (name: string, v: number) => onnx.AttributeProto.create({ name, type: A_.INT, i: v });
export const floatT = (name: string, dims: number[], data: Float32Array) =>
  onnx.TensorProto.create({ name, dataType: T.FLOAT, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
export const int64T = (name: string, values: number[]) => onnx.TensorProto.create({ name, dataType: T.INT64, dims: [values.length], int64Data: values });
