/**
 * Fused attention: a rewrite of the model bytes, before a session is made from them, that turns
 * each attention block
 *
 *   MatMul(Q, Kᵀ) → [Mul | Div by a constant s]? → [Add bias]? → Softmax(axis −1) → MatMul(·, V)
 *
 * into ONNX Runtime's contrib operator com.microsoft.MultiHeadAttention. On the CPU provider that
 * operator runs MLAS's flash attention (score tiles that stay in the cache, an online softmax)
 * when it gets no attention bias, no mask and no past: the [queries × keys] score tensor is never
 * written out, and the Softmax, the bias Add and the two MatMuls that took most of the UNet's time
 * become one kernel (docs/performance.md, issue 19).
 *
 * Layout. Every leading (batch, head) dimension becomes a batch entry of one head: Q [..., S, d] →
 * [n, S, d], K [..., M, d] → [n, M, d], V [..., M, dv] → [n, M, dv], num_heads 1, the output
 * reshaped back to [..., S, dv]. No head count has to be known, and the operator needs no transpose
 * of its own. This needs Q, Kᵀ and V to have the same leading dimensions (MatMul would broadcast
 * them, MultiHeadAttention does not): a block is rewritten only when the graph makes that certain —
 * the same constants, or the same scalar values, in the Reshapes and Transposes that made them, or
 * the same declared dimensions of graph inputs.
 *
 * The bias. The exporter's reference attention adds a per-key bias [B·F, 1, 1, keys] that
 * broadcasts over the heads and queries; the operator's attention_bias input would have to be
 * expanded over the queries (the 768 MB tensor again) and would turn the flash path off. Instead it
 * goes into the dot product, exactly: with Q' = [Q, 1] and K' = [K, bias / s] (one column more),
 * s·Q'K'ᵀ = s·QKᵀ + bias. The bias must be of Q's rank with a 1 on the query axis; its column is
 * broadcast to K's leading dimensions (it may not widen them: a bias of a larger batch than Q's
 * makes the operator refuse the shapes, it never computes other numbers).
 *
 * Float16 graphs (a float16 conversion of the export: durian_export.half). The block computes in
 * the type of its scale constant, and the rewrite's own constants (ones, zeros, scale) take that
 * type. One difference: bias / s is held to ±2¹⁵, where float16 and the dot product that adds Q·K
 * to it still have room. That changes nothing for the exporter's biases, which are 0 or masks
 * (−1e4, −7,000): a masked key's weight is 0 either way. A bias that large and positive would
 * change the result; the exporter writes none.
 *
 * Head-size padding (`padHeadTo`). CUDA's fused kernels in ONNX Runtime (memory-efficient and flash
 * attention) take head sizes that are multiples of 8; the bias column makes 16, 32, 48 into 17, 33,
 * 49. With padHeadTo p, Q', K' and V get zero columns up to one width, the larger of their head
 * sizes rounded up to a multiple of p (flash attention also wants Q/K and V of one size). Zeros add
 * nothing to the dot product, and V's extra output columns are cut off again. The width is computed
 * in the graph from the operands' shapes.
 *
 * Not bit-identical to the exported graph: the fused kernel sums the softmax in tiles and in
 * another order (max |Δ| about 1e-6 of a UNet output of range 2 on the shipped model; tested on the
 * tiny one). Blocks of any other form stay as they are (chunk-attention.ts may still take them).
 */
import { ModelFileError } from '../errors';
import { findAttentionBlocks, GraphIndex, opsetVersion, parseGraph, TENSOR_FLOAT, TENSOR_FLOAT16, unusedPrefix, writeGraph, type AttentionBlock, type Dim, type NodeInfo } from './attention-graph';
import { encodeNode, floatAttr, floatConstant, floatTensorAttr, int64Constant, intAttr, intsAttr } from './onnx-build';

export interface FuseAttentionOptions {
  /** Pad the operator's head sizes with zero columns to a multiple of this (module comment); 1: none. */
  padHeadTo?: number;
}

export interface FuseAttentionResult {
  model: Uint8Array;
  /** Attention blocks rewritten (0: `model` is the input). */
  blocks: number;
}

const MS_DOMAIN = 'com.microsoft';

/** A block as the rewrite needs it: operands, rank, scale and bias. */
interface Fusable {
  block: AttentionBlock;
  q: string;
  kt: string;
  v: string;
  rank: number;
  scale: number;
  bias?: string;
  /** Head sizes of Q/K and V where the graph states them as numbers. */
  dqk?: number;
  dv?: number;
  /** The block's element type (ONNX data type), read from its scale constant; float32 without one. */
  dataType: number;
}

const known = (d: Dim) => d !== null;

/** The block's operands if the rewrite is certain to compute the same function (module comment). */
function fusable(index: GraphIndex, block: AttentionBlock): Fusable | undefined {
  let scale = 1;
  let scaled = false;
  let dataType = TENSOR_FLOAT;
  let bias: string | undefined;
  for (const { node, slot } of block.chain.slice(0, -1)) {
    const other = node.inputs[1 - slot]!;
    if ((node.opType === 'Mul' || (node.opType === 'Div' && slot === 0)) && !scaled && bias === undefined) {
      const c = index.scalarFloat(other);
      if (c === undefined || c === 0 || !Number.isFinite(c)) return undefined;
      scale = node.opType === 'Mul' ? c : 1 / c;
      scaled = true;
      dataType = index.constant(other)?.dataType ?? TENSOR_FLOAT;
    } else if (node.opType === 'Add' && bias === undefined) {
      bias = other;
    } else {
      return undefined;
    }
  }
  // MultiHeadAttention reads scale 0 as "1/√head_size"
  if (Math.fround(scale) === 0 || !Number.isFinite(Math.fround(scale))) return undefined;
  const [q, kt] = block.qk.inputs as [string, string];
  const v = block.av.inputs[1]!;
  const [dq, dk, dv] = [index.dims(q), index.dims(kt), index.dims(v)];
  if (!dq || !dk || !dv) return undefined;
  const rank = dq.length;
  if (rank < 3 || dk.length !== rank || dv.length !== rank) return undefined;
  for (let i = 0; i < rank - 2; i++) {
    if (!known(dq[i]!) || dq[i] !== dk[i] || dq[i] !== dv[i]) return undefined;
  }
  if (bias !== undefined) {
    const db = index.dims(bias);
    if (db?.length !== rank || db[rank - 2] !== 1) return undefined;
  }
  const num = (d: Dim | undefined) => (typeof d === 'number' ? d : undefined);
  return { block, q, kt, v, rank, scale: Math.fround(scale), bias, dqk: num(dq[rank - 1]), dv: num(dv[rank - 1]), dataType };
}

/**
 * The model with each attention block it can fuse computed by com.microsoft.MultiHeadAttention (see
 * the module comment); `blocks` 0 when there is none (or an opset before 15).
 */
export function fuseAttention(model: Uint8Array, options: FuseAttentionOptions = {}): FuseAttentionResult {
  const padTo = options.padHeadTo ?? 1;
  if (!Number.isInteger(padTo) || padTo < 1) throw new RangeError(`padHeadTo must be a whole number ≥ 1, got ${padTo}`);
  try {
    // Shape's start/end attributes are opset 15
    if (opsetVersion(model) < 15) return { model, blocks: 0 };
    const graph = parseGraph(model);
    if (!graph) return { model, blocks: 0 };
    const index = new GraphIndex(graph);
    const blocks = findAttentionBlocks(index).map((b) => fusable(index, b)).filter((f): f is Fusable => f !== undefined);
    if (blocks.length === 0) return { model, blocks: 0 };

    const prefix = unusedPrefix(graph, 'durian_fused');
    const c = (name: string) => `${prefix}/${name}`;
    const constants = [int64Constant(c('one'), [1]), int64Constant(c('minus_one'), [-1]),
      ...(padTo > 1 ? [int64Constant(c('zero'), [0]), int64Constant(c('pad_to'), [padTo])] : [])];
    const replaced = new Map<NodeInfo, Uint8Array[]>();
    const removed = new Set<NodeInfo>();
    blocks.forEach(({ block, q, kt, v, rank, scale, bias, dqk, dv, dataType }, bi) => {
      const p = (name: string) => `${prefix}/${bi}/${name}`;
      const out: Uint8Array[] = [];
      const node = (op: string, inputs: string[], name: string, attributes: Uint8Array[] = [], domain = '') => {
        out.push(encodeNode(op, inputs, [p(name)], p(name), attributes, domain));
        return p(name);
      };
      const shape = (value: string, name: string, range: { start?: number; end?: number }) => node('Shape', [value], name,
        [...(range.start !== undefined ? [intAttr('start', range.start)] : []), ...(range.end !== undefined ? [intAttr('end', range.end)] : [])]);
      // the last two axes swapped: Kᵀ → K, a [..., 1, M] bias → [..., M, 1]
      const swap = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
      const k = node('Transpose', [kt], 'k', [intsAttr('perm', swap)]);
      let qx = q, kx = k;
      if (bias !== undefined) {
        // Q' = [Q, 1], K' = [K, bias / s]: s·Q'K'ᵀ = s·QKᵀ + bias
        const onesShape = node('Concat', [shape(q, 'q_rows', { end: -1 }), c('one')], 'ones_shape', [intAttr('axis', 0)]);
        const ones = node('ConstantOfShape', [onesShape], 'ones', [floatTensorAttr('value', 1, dataType)]);
        qx = node('Concat', [q, ones], 'q_ext', [intAttr('axis', -1)]);
        out.push(floatConstant(p('scale'), scale, [], dataType));
        let column = node('Div', [node('Transpose', [bias], 'bias_t', [intsAttr('perm', swap)]), p('scale')], 'bias_scaled');
        if (dataType === TENSOR_FLOAT16) {
          // float16: a masking bias (−1e4) over a small scale (1/√48) leaves the range (65,504), and
          // the dot product adds Q·K to it. The column is held to ±2¹⁵: a key masked by −2¹⁵·s
          // (−4,700 at s = 1/√48) gets weight e^−4700, 0 as surely as e^−10000 (module comment)
          out.push(floatConstant(p('bias_low'), -(2 ** 15), [], dataType), floatConstant(p('bias_high'), 2 ** 15, [], dataType));
          column = node('Min', [node('Max', [column, p('bias_low')], 'bias_floor'), p('bias_high')], 'bias_held');
        }
        const columnShape = node('Concat', [shape(k, 'k_rows', { end: -1 }), c('one')], 'column_shape', [intAttr('axis', 0)]);
        kx = node('Concat', [k, node('Expand', [column, columnShape], 'column')], 'k_ext', [intAttr('axis', -1)]);
      }
      // Q', K' and V widened with zero columns to one width W, the larger head size rounded up to a
      // multiple of padTo (module comment): flash attention also wants Q/K and V of one head size.
      // W is counted inside the graph, as exported head sizes are symbolic (ORT folds it under fixed
      // shapes): W = m + (padTo − m mod padTo) mod padTo, m = max(d_qk, d_v).
      const known = dqk !== undefined && dv !== undefined;
      const dqkx = dqk === undefined ? undefined : dqk + (bias !== undefined ? 1 : 0);
      const padded = padTo > 1 && !(known && dqkx === dv && dv % padTo === 0);
      let vx = v;
      if (padded) {
        const m = node('Max', [shape(qx, 'qk_d', { start: -1 }), shape(v, 'v_d', { start: -1 })], 'head_max');
        const width = node('Add', [m, node('Mod', [node('Sub', [c('pad_to'), node('Mod', [m, c('pad_to')], 'head_rem')], 'head_gap'), c('pad_to')], 'head_extra')], 'head_width');
        const widen = (value: string, name: string) => {
          const extra = node('Sub', [width, shape(value, `${name}_d`, { start: -1 })], `${name}_extra`);
          const zerosShape = node('Concat', [shape(value, `${name}_rows`, { end: -1 }), extra], `${name}_zeros_shape`, [intAttr('axis', 0)]);
          return node('Concat', [value, node('ConstantOfShape', [zerosShape], `${name}_zeros`, [floatTensorAttr('value', 0, dataType)])], name, [intAttr('axis', -1)]);
        };
        qx = widen(qx, 'q_pad');
        kx = widen(kx, 'k_pad');
        vx = widen(v, 'v_pad');
      }
      // [..., rows, d] → [n, rows, d]
      const flat = (value: string, name: string) => node('Reshape',
        [value, node('Concat', [c('minus_one'), shape(value, `${name}_tail`, { start: -2 })], `${name}_shape`, [intAttr('axis', 0)])], name);
      let fused = node('MultiHeadAttention', [flat(qx, 'q3'), flat(kx, 'k3'), flat(vx, 'v3')], 'attention',
        [intAttr('num_heads', 1), floatAttr('scale', scale)], MS_DOMAIN);
      if (padded) {
        // the operator's output has the padded width: keep V's own columns
        fused = node('Slice', [fused, c('zero'), shape(v, 'v_cols', { start: -1 }), c('minus_one')], 'attention_cut');
      }
      const outShape = node('Concat', [shape(q, 'out_rows', { end: -1 }), shape(v, 'out_cols', { start: -1 })], 'out_shape', [intAttr('axis', 0)]);
      out.push(encodeNode('Reshape', [fused, outShape], block.av.outputs, p('out')));
      replaced.set(block.av, out);
      removed.add(block.qk);
      block.chain.forEach(({ node: n }) => removed.add(n));
    });
    return { model: writeGraph(model, graph, constants, replaced, removed, { [MS_DOMAIN]: 1 }), blocks: blocks.length };
  } catch (cause) {
    throw new ModelFileError(`not a readable ONNX model: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
