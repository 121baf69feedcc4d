/**
 * What the float16 conversion (half.ts) knows of each operator: the element type of each output,
 * which inputs it reads whatever their type, which must stay float32 and which operators compute
 * in float32 between casts. An operator not in OPS is one the conversion refuses (it cannot tell
 * what its outputs are, so it cannot convert the graph safely).
 */
import { intAttribute, TENSOR_FLOAT, type NodeInfo } from './attention-graph';
import { TENSOR_BOOL, TENSOR_INT64 } from './onnx-fields';

/** An output's element type: that of input `from` (the operator's T), or one fixed by the operator
 * or an attribute (`type`); `fixed` outputs keep their type when the node computes in float16
 * (LayerNormalization's mean and inverse deviation follow `stash_type`, not T). */
export type OutputType = { from: number } | { type: number; fixed?: true };

export interface OpRule {
  /** The element type of output `k`. */
  output: (node: NodeInfo, k: number) => OutputType;
  /** Input slots read whatever their type (Shape's data, Cast's input): never cast. */
  anyType?: readonly number[];
  /** Float inputs that must be exact float32 (Resize's roi and scales): computed in float32, with
   * every float value they are computed from. */
  float32Inputs?: readonly number[];
}

const T0: OpRule = { output: () => ({ from: 0 }) };
const INT64: OpRule = { output: () => ({ type: TENSOR_INT64 }) };
const BOOL: OpRule = { output: () => ({ type: TENSOR_BOOL }) };
const SHAPE_OF: OpRule = { output: () => ({ type: TENSOR_INT64 }), anyType: [0] };

/** Operators whose float outputs all have the type of their first input. */
const SAME_AS_FIRST = [
  // layout and indexing (indices, shapes and axes are int64 inputs, left alone)
  'Identity', 'Transpose', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Concat', 'Gather', 'GatherElements', 'GatherND',
  'Slice', 'Expand', 'Tile', 'Pad', 'Split', 'DepthToSpace', 'SpaceToDepth', 'Trilu', 'ScatterND', 'ScatterElements',
  // arithmetic and activations
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Exp', 'Log', 'Sin', 'Cos', 'Tanh', 'Sigmoid', 'Relu',
  'LeakyRelu', 'Elu', 'Selu', 'Softplus', 'HardSigmoid', 'HardSwish', 'Gelu', 'Erf', 'Floor', 'Ceil', 'Round', 'Sign', 'Clip',
  'Sum', 'Mean', 'Min', 'Max', 'CumSum',
  // linear algebra, convolution, normalisation, pooling, reductions
  'MatMul', 'Gemm', 'Einsum', 'Conv', 'ConvTranspose', 'InstanceNormalization', 'GroupNormalization', 'AveragePool',
  'GlobalAveragePool', 'GlobalMaxPool', 'Softmax', 'LogSoftmax', 'ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin',
  'ReduceProd', 'ReduceL2', 'ReduceSumSquare', 'ReduceLogSumExp',
  // float32 ones (FLOAT32_OPS)
  'Resize', 'Upsample', 'Range', 'RoiAlign',
] as const;

/** Rules of the default domain ('' or 'ai.onnx'). */
const DEFAULT_OPS: Record<string, OpRule> = {
  ...Object.fromEntries(SAME_AS_FIRST.map((op) => [op, T0])),
  Resize: { ...T0, float32Inputs: [1, 2] },
  Upsample: { ...T0, float32Inputs: [1] },
  Range: { ...T0, float32Inputs: [0, 1, 2] },
  RoiAlign: { ...T0, float32Inputs: [1] },
  Shape: SHAPE_OF,
  Size: SHAPE_OF,
  NonZero: SHAPE_OF,
  ArgMax: INT64,
  ArgMin: INT64,
  Equal: BOOL, Less: BOOL, LessOrEqual: BOOL, Greater: BOOL, GreaterOrEqual: BOOL, IsNaN: BOOL, IsInf: BOOL,
  Not: BOOL, And: BOOL, Or: BOOL, Xor: BOOL,
  Where: { output: () => ({ from: 1 }) },
  TopK: { output: (_, k) => (k === 0 ? { from: 0 } : { type: TENSOR_INT64 }) },
  MaxPool: { output: (_, k) => (k === 0 ? { from: 0 } : { type: TENSOR_INT64 }) },
  NonMaxSuppression: { output: () => ({ type: TENSOR_INT64 }), float32Inputs: [3, 4] },
  LayerNormalization: { output: (node, k) => (k === 0 ? { from: 0 } : { type: intAttribute(node, 'stash_type') ?? TENSOR_FLOAT, fixed: true }) },
  Cast: { output: (node) => ({ type: intAttribute(node, 'to') ?? 0 }), anyType: [0] },
  // Constant's and ConstantOfShape's types come from their tensor attributes (half.ts reads them)
  Constant: { output: () => ({ type: 0 }) },
  ConstantOfShape: { output: () => ({ type: 0 }) },
  // (its input gives only a shape, but without dtype also the output's type: read as T)
  RandomUniformLike: { output: (node) => { const t = intAttribute(node, 'dtype'); return t === undefined ? { from: 0 } : { type: t }; } },
};

/** Rules of other domains, by `domain/op`. */
const DOMAIN_OPS: Record<string, OpRule> = {
  // fuse-attention.ts's operator: query, key, value, bias, attention bias and past are all T
  'com.microsoft/MultiHeadAttention': T0,
};

/**
 * Operators that compute in float32 between casts in a float16 graph: ONNX Runtime's converter's
 * default block list (onnxruntime.transformers.float16.DEFAULT_OP_BLOCK_LIST) as far as it names
 * operators of the default domain, and Resize (kept in float32 here by choice: nearest-neighbour
 * upsampling gains nothing from float16, and its scales must be float32 anyway).
 */
export const FLOAT32_OPS: ReadonlySet<string> = new Set([
  'Resize', 'Upsample', 'Range', 'TopK', 'CumSum', 'RoiAlign', 'NonMaxSuppression', 'RandomUniformLike', 'Min', 'Max',
]);

const isDefaultDomain = (domain: string) => domain === '' || domain === 'ai.onnx';

/** The rule of a node's operator, or undefined for one the conversion does not know. */
export function getOpRule(node: NodeInfo): OpRule | undefined {
  return isDefaultDomain(node.domain) ? DEFAULT_OPS[node.opType] : DOMAIN_OPS[`${node.domain}/${node.opType}`];
}

/** Whether the node computes in float32 between casts (FLOAT32_OPS, default domain). */
export function isFloat32Op(node: NodeInfo): boolean {
  return isDefaultDomain(node.domain) && FLOAT32_OPS.has(node.opType);
}
