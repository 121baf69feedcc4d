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
 * a constant or initializer of rank < 2 or size 1 there, or a Reshape to a shape whose
 * second-to-last entry is a constant 1 (how torch.onnx writes the exporter's per-key bias
 * `[B·F, 1, 1, keys]`). Any other block stays as exported.
 */
import { ModelFileError } from '../errors';
import {
  concat, decoder, lenField, parseFields, stringField, readInt64, stringFields, subFields, varintField, WIRE_LEN, WIRE_VARINT,
} from './protobuf';

// Field numbers from onnx.proto3
const MODEL_GRAPH = 7;
const MODEL_OPSET_IMPORT = 8;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const VALUE_INFO_NAME = 1;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const NODE_DOMAIN = 7;
const ATTR_NAME = 1;
const ATTR_I = 3;
const ATTR_T = 5;
const ATTR_TYPE = 20;
const ATTR_TYPE_INT = 2;
const ATTR_TYPE_TENSOR = 4;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_INT64_DATA = 7;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const TENSOR_INT64 = 7;
const ATTR_INTS = 8;

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

interface NodeInfo {
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  /** The raw AttributeProto payloads. */
  attributes: Uint8Array[];
}

interface Block {
  qk: NodeInfo;
  /** Elementwise steps between the two MatMuls, Softmax last, with which input carries the scores. */
  chain: { node: NodeInfo; slot: number }[];
  av: NodeInfo;
}

const ELEMENTWISE = new Set(['Mul', 'Div', 'Add', 'Sub']);
const MAX_CHAIN = 6;

function readNode(bytes: Uint8Array): NodeInfo {
  return {
    bytes,
    inputs: stringFields(bytes, NODE_INPUT),
    outputs: stringFields(bytes, NODE_OUTPUT),
    name: stringFields(bytes, NODE_NAME)[0] ?? '',
    opType: stringFields(bytes, NODE_OP_TYPE)[0] ?? '',
    domain: stringFields(bytes, NODE_DOMAIN)[0] ?? '',
    attributes: subFields(bytes, NODE_ATTRIBUTE),
  };
}

function intAttribute(node: NodeInfo, name: string): number | undefined {
  for (const a of node.attributes) {
    const fields = parseFields(a);
    const n = fields.find((f) => f.num === ATTR_NAME && f.wire === WIRE_LEN);
    if (!n || decoder.decode(a.subarray(n.payloadStart, n.end)) !== name) continue;
    const i = fields.find((f) => f.num === ATTR_I && f.wire === WIRE_VARINT);
    return i ? readInt64(a, i.payloadStart) : 0;
  }
  return undefined;
}

/** The default domain's opset version the model imports (0 when none). */
function defaultOpset(model: Uint8Array): number {
  for (const op of subFields(model, MODEL_OPSET_IMPORT)) {
    const fields = parseFields(op);
    const d = fields.find((f) => f.num === OPSET_DOMAIN && f.wire === WIRE_LEN);
    const domain = d ? decoder.decode(op.subarray(d.payloadStart, d.end)) : '';
    if (domain !== '' && domain !== 'ai.onnx') continue;
    const v = fields.find((f) => f.num === OPSET_VERSION && f.wire === WIRE_VARINT);
    return v?.value ?? 0;
  }
  return 0;
}

function encodeNode(op: string, inputs: readonly string[], outputs: readonly string[], name: string,
  attributes: readonly Uint8Array[] = [], domain = ''): Uint8Array {
  return concat([
    ...inputs.map((i) => stringField(NODE_INPUT, i)),
    ...outputs.map((o) => stringField(NODE_OUTPUT, o)),
    stringField(NODE_NAME, name),
    stringField(NODE_OP_TYPE, op),
    ...attributes.map((a) => lenField(NODE_ATTRIBUTE, a)),
    ...(domain ? [stringField(NODE_DOMAIN, domain)] : []),
  ]);
}

function intAttr(name: string, value: number): Uint8Array {
  return concat([stringField(ATTR_NAME, name), varintField(ATTR_TYPE, ATTR_TYPE_INT), varintField(ATTR_I, value)]);
}

/** A Constant node holding the int64 vector `values`. */
function int64Constant(output: string, values: readonly number[]): Uint8Array {
  const raw = new Uint8Array(8 * values.length);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
  const tensor = concat([varintField(TENSOR_DIMS, values.length), varintField(TENSOR_DATA_TYPE, TENSOR_INT64),
    stringField(TENSOR_NAME, output), lenField(TENSOR_RAW_DATA, raw)]);
  const attr = concat([stringField(ATTR_NAME, 'value'), varintField(ATTR_TYPE, ATTR_TYPE_TENSOR), lenField(ATTR_T, tensor)]);
  return encodeNode('Constant', [], [output], output, [attr]);
}

/** What the rewrite may know of a constant tensor: its dims, and its values if it is int64. */
interface ConstantInfo {
  dims: number[];
  int64?: number[];
}

function readTensor(t: Uint8Array): ConstantInfo {
  const fields = parseFields(t);
  const dims: number[] = [];
  let dataType = 0;
  let raw: Uint8Array | undefined;
  const int64: number[] = [];
  for (const f of fields) {
    if (f.num === TENSOR_DIMS && f.wire === WIRE_VARINT) dims.push(readInt64(t, f.payloadStart));
    else if (f.num === TENSOR_DIMS && f.wire === WIRE_LEN) for (let p = f.payloadStart; p < f.end;) [, p] = readVarintAt(t, p, dims);
    else if (f.num === TENSOR_DATA_TYPE && f.wire === WIRE_VARINT) dataType = f.value;
    else if (f.num === TENSOR_RAW_DATA && f.wire === WIRE_LEN) raw = t.subarray(f.payloadStart, f.end);
    else if (f.num === TENSOR_INT64_DATA && f.wire === WIRE_VARINT) int64.push(readInt64(t, f.payloadStart));
    else if (f.num === TENSOR_INT64_DATA && f.wire === WIRE_LEN) for (let p = f.payloadStart; p < f.end;) [, p] = readVarintAt(t, p, int64);
  }
  if (dataType !== TENSOR_INT64) return { dims };
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return { dims, int64: Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true))) };
  }
  return { dims, int64 };
}

/** Reads one int64 varint at `pos` into `into`; returns it and the next position. */
function readVarintAt(buf: Uint8Array, pos: number, into: number[]): [number, number] {
  let end = pos;
  while (buf[end]! & 0x80) end++;
  const v = readInt64(buf, pos);
  into.push(v);
  return [v, end + 1];
}

/** A Constant node's value as a tensor (value, value_int(s), value_float(s)). */
function constantNodeValue(node: NodeInfo): ConstantInfo | undefined {
  for (const a of node.attributes) {
    const fields = parseFields(a);
    const n = fields.find((f) => f.num === ATTR_NAME && f.wire === WIRE_LEN);
    const name = n ? decoder.decode(a.subarray(n.payloadStart, n.end)) : '';
    if (name === 'value') {
      const t = fields.find((f) => f.num === ATTR_T && f.wire === WIRE_LEN);
      return t ? readTensor(a.subarray(t.payloadStart, t.end)) : undefined;
    }
    if (name === 'value_int') return { dims: [], int64: [intAttribute(node, 'value_int') ?? 0] };
    if (name === 'value_float') return { dims: [] };
    if (name === 'value_ints') {
      const ints: number[] = [];
      for (const f of fields) {
        if (f.num === ATTR_INTS && f.wire === WIRE_VARINT) ints.push(readInt64(a, f.payloadStart));
        else if (f.num === ATTR_INTS && f.wire === WIRE_LEN) for (let p = f.payloadStart; p < f.end;) [, p] = readVarintAt(a, p, ints);
      }
      return { dims: [ints.length], int64: ints };
    }
    if (name === 'value_floats') return { dims: [-1] };
  }
  return undefined;
}

/** The attention blocks of a graph's nodes (see the module comment). */
function findBlocks(nodes: NodeInfo[], graphOutputs: ReadonlySet<string>, initializers: ReadonlyMap<string, ConstantInfo>): Block[] {
  const producer = new Map<string, NodeInfo>();
  const consumers = new Map<string, NodeInfo[]>();
  for (const n of nodes) {
    n.outputs.forEach((o) => producer.set(o, n));
    for (const i of new Set(n.inputs)) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  // a value that only `next` reads, once
  const onlyFeeds = (value: string, next: NodeInfo) => !graphOutputs.has(value)
    && consumers.get(value)?.length === 1 && next.inputs.filter((i) => i === value).length === 1;
  const isDefault = (n: NodeInfo) => n.domain === '' || n.domain === 'ai.onnx';
  const constant = (value: string): ConstantInfo | undefined => {
    const p = producer.get(value);
    return initializers.get(value) ?? (p?.opType === 'Constant' && isDefault(p) ? constantNodeValue(p) : undefined);
  };
  // the last entries of a 1-D shape tensor, where they are known: a constant, or a Concat of
  // constants and Unsqueezed scalars (one entry each, unknown) — null where not known
  const shapeTail = (value: string, count: number): (number | null)[] | undefined => {
    const c = constant(value);
    if (c?.int64) return c.int64.slice(-count);
    const p = producer.get(value);
    if (p?.opType !== 'Concat' || !isDefault(p)) return undefined;
    const tail: (number | null)[] = [];
    for (const input of [...p.inputs].reverse()) {
      const k = constant(input);
      if (k?.int64) tail.unshift(...k.int64);
      else if (producer.get(input)?.opType === 'Unsqueeze') tail.unshift(null);
      else return undefined;
      if (tail.length >= count) return tail.slice(-count);
    }
    return undefined;
  };
  // certain to broadcast along the query axis (the second-to-last)
  const broadcastsOverQueries = (value: string): boolean => {
    const c = constant(value);
    if (c) return c.dims.length < 2 || c.dims[c.dims.length - 2] === 1;
    const p = producer.get(value);
    if (p?.opType === 'Reshape' && isDefault(p) && p.inputs.length >= 2) return shapeTail(p.inputs[1]!, 2)?.[0] === 1;
    return false;
  };
  const blocks: Block[] = [];
  for (const sm of nodes) {
    if (sm.opType !== 'Softmax' || !isDefault(sm) || (intAttribute(sm, 'axis') ?? -1) !== -1 || sm.outputs.length !== 1) continue;
    const av = consumers.get(sm.outputs[0]!);
    if (av?.length !== 1 || av[0]!.opType !== 'MatMul' || !isDefault(av[0]!) || av[0]!.inputs[0] !== sm.outputs[0] || !onlyFeeds(sm.outputs[0]!, av[0]!)) continue;
    const chain: Block['chain'] = [{ node: sm, slot: 0 }];
    let value = sm.inputs[0]!;
    let qk: NodeInfo | undefined;
    for (let depth = 0; depth <= MAX_CHAIN; depth++) {
      const p = producer.get(value);
      if (!p || !isDefault(p) || p.outputs.length !== 1 || !onlyFeeds(value, chain[0]!.node)) break;
      if (p.opType === 'MatMul') {
        qk = p;
        break;
      }
      if (!ELEMENTWISE.has(p.opType) || p.inputs.length !== 2) break;
      // the scores come from the MatMul or the step before; the other operand is a scale or bias
      // (both or neither looking like scores: not a block this rewrite understands)
      const fromChain = (i: string) => ['MatMul', ...ELEMENTWISE].includes(producer.get(i)?.opType ?? '');
      const [a, b] = [fromChain(p.inputs[0]!), fromChain(p.inputs[1]!)];
      const slot = a && !b ? 0 : b && !a && (p.opType === 'Mul' || p.opType === 'Add') ? 1 : -1;
      if (slot < 0 || !broadcastsOverQueries(p.inputs[1 - slot]!)) break;
      chain.unshift({ node: p, slot });
      value = p.inputs[slot]!;
    }
    if (qk?.inputs.length === 2) blocks.push({ qk, chain, av: av[0]! });
  }
  return blocks;
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
    if (pieces === 1 || defaultOpset(model) < 15) return { model, blocks: 0 };
    const graphs = subFields(model, MODEL_GRAPH);
    if (graphs.length !== 1) return { model, blocks: 0 };
    const graph = graphs[0]!;
    const nodes = subFields(graph, GRAPH_NODE).map(readNode);
    const graphOutputs = new Set(subFields(graph, GRAPH_OUTPUT).flatMap((v) => stringFields(v, VALUE_INFO_NAME)));
    const initializers = new Map(subFields(graph, GRAPH_INITIALIZER).map((t) => [stringFields(t, TENSOR_NAME)[0] ?? '', readTensor(t)] as const));
    const blocks = findBlocks(nodes, graphOutputs, initializers);
    if (blocks.length === 0) return { model, blocks: 0 };

    // names of our own that the graph does not use
    const used = new Set<string>([...nodes.flatMap((n) => [...n.inputs, ...n.outputs, n.name]),
      ...subFields(graph, GRAPH_INPUT).flatMap((v) => stringFields(v, VALUE_INFO_NAME)),
      ...subFields(graph, GRAPH_INITIALIZER).flatMap((t) => stringFields(t, TENSOR_NAME))]);
    let prefix = 'durian_chunk';
    for (let k = 1; [...used].some((n) => n.startsWith(prefix)); k++) prefix = `durian_chunk${k}`;

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

    // the graph again, node by node in the same order: our constants first, each block where its
    // last MatMul was (everything it reads is computed by then), the other fields as they were
    const parts: Uint8Array[] = [];
    let nodeIndex = 0;
    for (const f of parseFields(graph)) {
      if (f.num !== GRAPH_NODE || f.wire !== WIRE_LEN) {
        parts.push(graph.subarray(f.start, f.end));
        continue;
      }
      const node = nodes[nodeIndex++]!;
      if (nodeIndex === 1) parts.push(...constants.map((n) => lenField(GRAPH_NODE, n)));
      const instead = replaced.get(node);
      if (instead) parts.push(...instead.map((n) => lenField(GRAPH_NODE, n)));
      else if (!removed.has(node)) parts.push(graph.subarray(f.start, f.end));
    }
    const newGraph = concat(parts);
    const modelParts: Uint8Array[] = [];
    for (const f of parseFields(model)) {
      modelParts.push(f.num === MODEL_GRAPH && f.wire === WIRE_LEN ? lenField(MODEL_GRAPH, newGraph) : model.subarray(f.start, f.end));
    }
    return { model: concat(modelParts), blocks: blocks.length };
  } catch (cause) {
    throw new ModelFileError(`not a readable ONNX model: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
