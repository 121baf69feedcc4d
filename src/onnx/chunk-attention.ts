/**
 * Attention that never holds its whole score tensor: a rewrite of the model bytes, before a
 * session is made from them, that computes each attention block in pieces of query rows.
 *
 * The exported UNet's reference attention at the latent resolution scores [frames × heads × 1,024
 * queries] against 3,072 keys: a 768 MB float32 tensor at a 16-frame window, two of them alive at
 * once (scores, then probabilities), and ONNX Runtime's CPU arena keeps what it once held
 * (docs/performance.md, issue 19). Softmax runs along the keys, so every query row is independent:
 *
 *   MatMul(Q, Kᵀ) → [Mul | Div | Add | Sub]* → Softmax(axis −1) → MatMul(·, V)
 *
 * becomes, for piece j of `pieces`, the same chain on the rows [j·c, (j+1)·c) of Q, and a Concat
 * of the pieces' outputs along the query axis. The piece size c = max(⌈rows / pieces⌉, minRows)
 * is computed inside the graph from Q's shape (ORT folds it at load when the shapes are fixed), so
 * the rewrite needs no shape knowledge here and works for any window or resolution; pieces past the
 * last row are empty. Each output element is computed by the same kernels over the same keys in the
 * same order, so the outputs are bit-identical on the CPU provider (tested on the tiny model; the
 * README job's video is byte-identical). `minRows` keeps short attentions (temporal, small levels)
 * in one piece, where MLAS would otherwise take its few-row paths.
 *
 * The other operand of each elementwise step (scale, attention bias) is used whole, so it must
 * broadcast along the query axis: a block is rewritten only when that is certain from the graph —
 * a constant, initializer or graph input of rank < 2 or size 1 there (a graph input's declared
 * shape: ORT refuses feeds of other sizes), or a Reshape to a shape whose second-to-last entry is a
 * constant 1 (how torch.onnx writes the exporter's per-key bias `[B·F, 1, 1, keys]`). Any other
 * block stays as exported.
 */
import { ModelFileError } from '../errors';
import { findAttentionBlocks, GraphIndex, opsetVersion, parseGraph, unusedPrefix, writeGraph, type NodeInfo } from './attention-graph';
import { encodeNode, int64Constant, intAttr } from './onnx-build';

export interface ChunkAttentionOptions {
  /** Pieces per attention block (a count fixed in the graph). */
  pieces: number;
  /** Rows of a piece at least: a block of fewer than 2·minRows query rows stays whole. */
  minRows: number;
}

/** The default: pieces of 128 rows for the 1,024-query attention, 64 for 256, the rest whole. */
export const DEFAULT_CHUNK_ATTENTION: Readonly<ChunkAttentionOptions> = Object.freeze({ pieces: 8, minRows: 64 });

export interface ChunkAttentionResult {
  model: Uint8Array;
  /** Attention blocks rewritten (0: `model` is the input). */
  blocks: number;
}

/**
 * The model with each attention block computed in `pieces` pieces of query rows (see the module
 * comment); `blocks` 0 when it has none the rewrite recognises (or an opset before 15).
 */
export function chunkAttention(model: Uint8Array, options: ChunkAttentionOptions = DEFAULT_CHUNK_ATTENTION): ChunkAttentionResult {
  const { pieces, minRows } = options;
  if (!Number.isInteger(pieces) || pieces < 1 || !Number.isInteger(minRows) || minRows < 1) {
    throw new RangeError(`chunked attention needs whole pieces ≥ 1 and minRows ≥ 1, got ${pieces} and ${minRows}`);
  }
  try {
    // Shape's start/end attributes are opset 15; Softmax along one axis is opset 13
    if (pieces === 1 || opsetVersion(model) < 15) return { model, blocks: 0 };
    const graph = parseGraph(model);
    if (!graph) return { model, blocks: 0 };
    const blocks = findAttentionBlocks(new GraphIndex(graph));
    if (blocks.length === 0) return { model, blocks: 0 };

    // names of our own that the graph does not use
    const prefix = unusedPrefix(graph, 'durian_chunk');
    const c = (name: string) => `${prefix}/${name}`;
    const constants = [
      int64Constant(c('pieces_minus_1'), [pieces - 1]), int64Constant(c('pieces'), [pieces]),
      int64Constant(c('min_rows'), [minRows]), int64Constant(c('axis'), [-2]),
      ...Array.from({ length: pieces + 1 }, (_, j) => int64Constant(c(`j${j}`), [j])),
    ];
    const replaced = new Map<NodeInfo, Uint8Array[]>();
    const removed = new Set<NodeInfo>();
    blocks.forEach((b, bi) => {
      const p = (name: string) => `${prefix}/${bi}/${name}`;
      const q = b.qk.inputs[0]!, kt = b.qk.inputs[1]!, v = b.av.inputs[1]!;
      const out: Uint8Array[] = [
        encodeNode('Shape', [q], [p('rows')], p('rows'), [intAttr('start', -2), intAttr('end', -1)]),
        encodeNode('Add', [p('rows'), c('pieces_minus_1')], [p('rows_up')], p('rows_up')),
        encodeNode('Div', [p('rows_up'), c('pieces')], [p('per_piece')], p('per_piece')),
        encodeNode('Max', [p('per_piece'), c('min_rows')], [p('size')], p('size')),
        ...Array.from({ length: pieces + 1 }, (_, j) => encodeNode('Mul', [p('size'), c(`j${j}`)], [p(`at${j}`)], p(`at${j}`))),
      ];
      const results: string[] = [];
      for (let j = 0; j < pieces; j++) {
        out.push(encodeNode('Slice', [q, p(`at${j}`), p(`at${j + 1}`), c('axis')], [p(`${j}/q`)], p(`${j}/q`)));
        let cur = p(`${j}/scores`);
        out.push(encodeNode('MatMul', [p(`${j}/q`), kt], [cur], cur));
        for (const [si, { node, slot }] of b.chain.entries()) {
          const next = p(`${j}/${si}_${node.opType}`);
          const inputs = [...node.inputs];
          inputs[slot] = cur;
          out.push(encodeNode(node.opType, inputs, [next], next, node.attributes, node.domain));
          cur = next;
        }
        results.push(p(`${j}/out`));
        out.push(encodeNode('MatMul', [cur, v], [p(`${j}/out`)], p(`${j}/out`)));
      }
      out.push(encodeNode('Concat', results, b.av.outputs, p('concat'), [intAttr('axis', -2)]));
      replaced.set(b.av, out);
      removed.add(b.qk);
      b.chain.forEach(({ node }) => removed.add(node));
    });

    // each block where its last MatMul was (everything it reads is computed by then)
    return { model: writeGraph(model, graph, constants, replaced, removed), blocks: blocks.length };
  } catch (cause) {
    throw new ModelFileError(`not a readable ONNX model: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
