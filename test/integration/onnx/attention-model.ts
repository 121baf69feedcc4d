import { TENSOR_FLOAT, TENSOR_FLOAT16 } from '../../../src/onnx/attention-graph';
import { float16Bits } from '../../../src/onnx/float16';
import { concat, lenField, stringField, varintField } from '../../../src/onnx/protobuf';
import { createFloat16Tensor, createFloat32Tensor } from '../../../src/onnx/runtime';

export interface AttentionModelShapes {
  /** null: q declared without a shape. */
  q: number[] | null;
  kt: number[];
  v: number[];
}

/** The shapes of the hand-written attention graph unless a test says otherwise. */
export const ATTENTION_SHAPES: AttentionModelShapes = { q: [2, 8, 4], kt: [2, 4, 6], v: [2, 6, 3] };

/**
 * A hand-written attention graph: out = softmax(q·kᵀ · 0.5 + bias) · v, with graph inputs q, kt, v
 * of `shapes` (default q [2, 8, 4], kᵀ [2, 4, 6], v [2, 6, 3]); the bias is a graph input of
 * `input` dims, or `bias_flat` [2, 6] reshaped to a constant shape. `elemType` TENSOR_FLOAT16: every
 * value and the scale in float16, as a float16 conversion of an exported graph has them.
 */
export function attentionModel(bias: { input: number[] } | { reshapeTo: number[] }, shapes: AttentionModelShapes = ATTENTION_SHAPES,
  elemType = TENSOR_FLOAT): Uint8Array {
  const valueInfo = (dims?: number[] | null) => lenField(2, lenField(1, concat([varintField(1, elemType),
    ...(dims ? [lenField(2, concat(dims.map((d) => lenField(1, varintField(1, d)))))] : [])])));
  const info = (name: string, dims?: number[] | null) => concat([stringField(1, name), valueInfo(dims)]);
  const node = (op: string, inputs: string[], outputs: string[], attrs: Uint8Array[] = []) =>
    lenField(1, concat([...inputs.map((i) => stringField(1, i)), ...outputs.map((o) => stringField(2, o)), stringField(3, outputs[0]!),
      stringField(4, op), ...attrs.map((a) => lenField(5, a))]));
  const tensorAttr = (dims: number[], type: number, raw: Uint8Array) => concat([stringField(1, 'value'), varintField(20, 4),
    lenField(5, concat([...dims.map((d) => varintField(1, d)), varintField(2, type), lenField(9, raw)]))]);
  const int64s = (v: number[]) => new Uint8Array(new BigInt64Array(v.map(BigInt)).buffer);
  const biasNodes = 'input' in bias ? [] : [
    node('Constant', [], ['shape'], [tensorAttr([bias.reshapeTo.length], 7, int64s(bias.reshapeTo))]),
    node('Reshape', ['bias_flat', 'shape'], ['bias'])];
  const graph = concat([
    node('Constant', [], ['scale'], [tensorAttr([], elemType, elemType === TENSOR_FLOAT16
      ? new Uint8Array(Uint16Array.of(float16Bits(0.5)).buffer) : new Uint8Array(new Float32Array([0.5]).buffer))]),
    ...biasNodes,
    node('MatMul', ['q', 'kt'], ['s']), node('Mul', ['s', 'scale'], ['ss']), node('Add', ['ss', 'bias'], ['sb']),
    node('Softmax', ['sb'], ['p'], [concat([stringField(1, 'axis'), varintField(20, 2), varintField(3, -1)])]),
    node('MatMul', ['p', 'v'], ['out']),
    stringField(2, 'attention'),
    ...[info('q', shapes.q), info('kt', shapes.kt), info('v', shapes.v),
      'input' in bias ? info('bias', bias.input) : info('bias_flat', [2, 6])].map((i) => lenField(11, i)),
    lenField(12, info('out')),
  ]);
  return concat([varintField(1, 8), lenField(7, graph), lenField(8, concat([stringField(1, ''), varintField(2, 18)]))]);
}

/**
 * Seeded feeds for `attentionModel`: smooth values in [−2, 2] for q, kᵀ and v of `shapes`, and for
 * the bias input `biasName` of `biasDims`, multiplied by `biasScale`; float16 tensors with `elemType`
 * TENSOR_FLOAT16.
 */
export function attentionFeeds(biasName: string, biasDims: number[], shapes: AttentionModelShapes = ATTENTION_SHAPES, biasScale = 1,
  elemType = TENSOR_FLOAT) {
  const values = (dims: number[], k: number) => new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * k) * 2);
  const tensor = (data: Float32Array, dims: number[]) => (elemType === TENSOR_FLOAT16
    ? createFloat16Tensor(Uint16Array.from(data, float16Bits), dims) : createFloat32Tensor(data, dims));
  const q = shapes.q!; // a q declared without a shape has no feed to make
  return {
    q: tensor(values(q, 1.3), q), kt: tensor(values(shapes.kt, 0.7), shapes.kt),
    v: tensor(values(shapes.v, 2.1), shapes.v),
    [biasName]: tensor(values(biasDims, 0.9).map((x) => x * biasScale), biasDims),
  };
}
