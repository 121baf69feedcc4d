/**
 * What the attention rewrites (chunk-attention.ts, fuse-attention.ts) share: reading a model's
 * graph from its bytes, finding its attention blocks
 *
 *   MatMul(Q, Kᵀ) → [Mul | Div | Add | Sub]* → Softmax(axis −1) → MatMul(·, V)
 *
 * where every other operand of the elementwise steps (scale, attention bias) certainly broadcasts
 * along the query axis, and writing the graph back with some nodes replaced. Only the fields
 * touched are parsed; every other byte of the model is copied as it is.
 */
import { float16Value } from './float16';
import {
  concat, decoder, lenField, parseFields, readInt64, stringField, stringFields, subFields, varintField, WIRE_I32, WIRE_LEN, WIRE_VARINT,
} from './protobuf';
import {
  ATTR_F, ATTR_FLOATS, ATTR_I, ATTR_INTS, ATTR_NAME, ATTR_T, DIM_PARAM, DIM_VALUE, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_NODE, GRAPH_OUTPUT, MODEL_GRAPH, MODEL_OPSET_IMPORT, NODE_ATTRIBUTE, NODE_DOMAIN, NODE_INPUT, NODE_NAME, NODE_OP_TYPE, NODE_OUTPUT, OPSET_DOMAIN, OPSET_VERSION, SHAPE_DIM, TENSOR_DATA_TYPE, TENSOR_DIMS, TENSOR_FLOAT, TENSOR_FLOAT16, TENSOR_FLOAT_DATA, TENSOR_INT64, TENSOR_INT64_DATA, TENSOR_NAME, TENSOR_RAW_DATA, TENSOR_TYPE_SHAPE, TYPE_TENSOR, VALUE_INFO_NAME, VALUE_INFO_TYPE,
} from './onnx-fields';

export { TENSOR_FLOAT, TENSOR_FLOAT16 } from './onnx-fields';

export interface NodeInfo {
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  /** The raw AttributeProto payloads. */
  attributes: Uint8Array[];
}

export interface AttentionBlock {
  qk: NodeInfo;
  /** Elementwise steps between the two MatMuls, Softmax last, with which input carries the scores. */
  chain: { node: NodeInfo; slot: number }[];
  av: NodeInfo;
}

/** What a rewrite may know of a constant tensor: its dims, its element type (ONNX's TensorProto
 * data type) and, for one of at most SMALL_TENSOR elements (scales, shapes), its values if int64,
 * float32 or float16 (float16 as the numbers they stand for). */
export interface ConstantInfo {
  dims: number[];
  dataType?: number;
  int64?: number[];
  float?: number[];
}

/** A dimension as far as the graph tells: a number, a symbol that stands for the same size
 * wherever it appears, or null where nothing is known. */
export type Dim = number | string | null;

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

function attribute(node: NodeInfo, name: string): { bytes: Uint8Array; fields: ReturnType<typeof parseFields> } | undefined {
  for (const a of node.attributes) {
    const fields = parseFields(a);
    const n = fields.find((f) => f.num === ATTR_NAME && f.wire === WIRE_LEN);
    if (n && decoder.decode(a.subarray(n.payloadStart, n.end)) === name) return { bytes: a, fields };
  }
  return undefined;
}

export function intAttribute(node: NodeInfo, name: string): number | undefined {
  const a = attribute(node, name);
  if (!a) return undefined;
  const i = a.fields.find((f) => f.num === ATTR_I && f.wire === WIRE_VARINT);
  return i ? readInt64(a.bytes, i.payloadStart) : 0;
}

export function intsAttribute(node: NodeInfo, name: string): number[] | undefined {
  const a = attribute(node, name);
  if (!a) return undefined;
  const ints: number[] = [];
  for (const f of a.fields) {
    if (f.num === ATTR_INTS && f.wire === WIRE_VARINT) ints.push(readInt64(a.bytes, f.payloadStart));
    else if (f.num === ATTR_INTS && f.wire === WIRE_LEN) for (let p = f.payloadStart; p < f.end;) [, p] = readVarintAt(a.bytes, p, ints);
  }
  return ints;
}

/** The model's opset version for `domain` ('' is the default domain; 0 when not imported). */
export function opsetVersion(model: Uint8Array, domain = ''): number {
  for (const op of subFields(model, MODEL_OPSET_IMPORT)) {
    const fields = parseFields(op);
    const d = fields.find((f) => f.num === OPSET_DOMAIN && f.wire === WIRE_LEN);
    const name = d ? decoder.decode(op.subarray(d.payloadStart, d.end)) : '';
    const same = domain === '' ? name === '' || name === 'ai.onnx' : name === domain;
    if (!same) continue;
    const v = fields.find((f) => f.num === OPSET_VERSION && f.wire === WIRE_VARINT);
    return v?.value ?? 0;
  }
  return 0;
}

/** Tensors up to this many elements have their values read (ConstantInfo); the rewrites look at
 * scalars and shape vectors only, and reading every weight took 90 % of a parse of the shipped UNet. */
const SMALL_TENSOR = 64;

function readTensor(t: Uint8Array): ConstantInfo {
  const fields = parseFields(t);
  const dims: number[] = [];
  let dataType = 0;
  let raw: Uint8Array | undefined;
  const int64: number[] = [];
  const float: number[] = [];
  for (const f of fields) {
    if (f.num === TENSOR_DIMS && f.wire === WIRE_VARINT) dims.push(readInt64(t, f.payloadStart));
    else if (f.num === TENSOR_DIMS && f.wire === WIRE_LEN) for (let p = f.payloadStart; p < f.end;) [, p] = readVarintAt(t, p, dims);
    else if (f.num === TENSOR_DATA_TYPE && f.wire === WIRE_VARINT) dataType = f.value;
  }
  if (dims.reduce((a, b) => a * b, 1) > SMALL_TENSOR) return { dims, dataType };
  for (const f of fields) {
    if (f.num === TENSOR_DIMS || f.num === TENSOR_DATA_TYPE) continue;
    if (f.num === TENSOR_RAW_DATA && f.wire === WIRE_LEN) raw = t.subarray(f.payloadStart, f.end);
    else if (f.num === TENSOR_INT64_DATA && f.wire === WIRE_VARINT) int64.push(readInt64(t, f.payloadStart));
    else if (f.num === TENSOR_INT64_DATA && f.wire === WIRE_LEN) for (let p = f.payloadStart; p < f.end;) [, p] = readVarintAt(t, p, int64);
    else if (f.num === TENSOR_FLOAT_DATA && f.wire === WIRE_I32) float.push(new DataView(t.buffer, t.byteOffset + f.payloadStart, 4).getFloat32(0, true));
    else if (f.num === TENSOR_FLOAT_DATA && f.wire === WIRE_LEN) {
      const view = new DataView(t.buffer, t.byteOffset + f.payloadStart, f.end - f.payloadStart);
      for (let p = 0; p + 4 <= view.byteLength; p += 4) float.push(view.getFloat32(p, true));
    }
  }
  if (dataType === TENSOR_INT64) {
    if (!raw) return { dims, dataType, int64 };
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return { dims, dataType, int64: Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true))) };
  }
  if (dataType === TENSOR_FLOAT) {
    if (!raw) return { dims, dataType, float };
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return { dims, dataType, float: Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true)) };
  }
  if (dataType === TENSOR_FLOAT16 && raw) {  // (float16 outside raw_data sits in int32_data: not read)
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return { dims, dataType, float: Array.from({ length: raw.byteLength / 2 }, (_, i) => float16Value(view.getUint16(2 * i, true))) };
  }
  return { dims, dataType };
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
    if (name === 'value_float') {
      const f = fields.find((x) => x.num === ATTR_F && x.wire === WIRE_I32);
      return { dims: [], dataType: TENSOR_FLOAT, float: f ? [new DataView(a.buffer, a.byteOffset + f.payloadStart, 4).getFloat32(0, true)] : [0] };
    }
    if (name === 'value_ints') {
      const ints = intsAttribute(node, 'value_ints') ?? [];
      return { dims: [ints.length], int64: ints };
    }
    if (name === 'value_floats') return { dims: [fields.filter((f) => f.num === ATTR_FLOATS).length] };
  }
  return undefined;
}

/** A model's single graph, parsed as far as the attention rewrites need. */
export interface ParsedGraph {
  bytes: Uint8Array;
  nodes: NodeInfo[];
  outputs: Set<string>;
  initializers: Map<string, ConstantInfo>;
  /** Graph inputs with a declared shape: their dims (numbers or symbols, null where neither). */
  inputDims: Map<string, Dim[]>;
  /** Every name the graph uses (values, nodes, initializers). */
  used: Set<string>;
}

/** The model's graph, or undefined when it has not exactly one. Throws on unreadable bytes. */
export function parseGraph(model: Uint8Array): ParsedGraph | undefined {
  const graphs = subFields(model, MODEL_GRAPH);
  if (graphs.length !== 1) return undefined;
  const bytes = graphs[0]!;
  const nodes = subFields(bytes, GRAPH_NODE).map(readNode);
  const outputs = new Set(subFields(bytes, GRAPH_OUTPUT).flatMap((v) => stringFields(v, VALUE_INFO_NAME)));
  const initializerBytes = subFields(bytes, GRAPH_INITIALIZER);
  const initializers = new Map(initializerBytes.map((t) => [stringFields(t, TENSOR_NAME)[0] ?? '', readTensor(t)] as const));
  const inputDims = new Map<string, Dim[]>();
  const inputNames: string[] = [];
  for (const input of subFields(bytes, GRAPH_INPUT)) {
    const name = stringFields(input, VALUE_INFO_NAME)[0] ?? '';
    inputNames.push(name);
    for (const shape of subFields(input, VALUE_INFO_TYPE).flatMap((t) => subFields(t, TYPE_TENSOR)).flatMap((t) => subFields(t, TENSOR_TYPE_SHAPE))) {
      inputDims.set(name, subFields(shape, SHAPE_DIM).map((dim) => {
        const f = parseFields(dim);
        const param = f.find((x) => x.num === DIM_PARAM && x.wire === WIRE_LEN);
        const value = f.find((x) => x.num === DIM_VALUE && x.wire === WIRE_VARINT);
        return param ? `param:${decoder.decode(dim.subarray(param.payloadStart, param.end))}` : value ? value.value : null;
      }));
    }
  }
  const used = new Set<string>([...nodes.flatMap((n) => [...n.inputs, ...n.outputs, n.name]), ...inputNames, ...initializers.keys()]);
  return { bytes, nodes, outputs, initializers, inputDims, used };
}

/** `base`, or `base1`, `base2`, … : a prefix no name of the graph starts with. */
export function unusedPrefix(graph: ParsedGraph, base: string): string {
  let prefix = base;
  for (let k = 1; [...graph.used].some((n) => n.startsWith(prefix)); k++) prefix = `${base}${k}`;
  return prefix;
}

/** Who produces and reads each value, and what is known of constants and shapes. */
export class GraphIndex {
  readonly producer = new Map<string, NodeInfo>();
  readonly consumers = new Map<string, NodeInfo[]>();

  constructor(readonly graph: ParsedGraph) {
    for (const n of graph.nodes) {
      n.outputs.forEach((o) => this.producer.set(o, n));
      for (const i of new Set(n.inputs)) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
    }
  }

  static isDefault(n: NodeInfo): boolean {
    return n.domain === '' || n.domain === 'ai.onnx';
  }

  /** A value that only `next` reads, once (and not a graph output). */
  onlyFeeds(value: string, next: NodeInfo): boolean {
    return !this.graph.outputs.has(value) && this.consumers.get(value)?.length === 1 && next.inputs.filter((i) => i === value).length === 1;
  }

  constant(value: string): ConstantInfo | undefined {
    const p = this.producer.get(value);
    return this.graph.initializers.get(value) ?? (p?.opType === 'Constant' && GraphIndex.isDefault(p) ? constantNodeValue(p) : undefined);
  }

  /** The single float32 or float16 value of a constant of one element, if `value` is one. */
  scalarFloat(value: string): number | undefined {
    const c = this.constant(value);
    return c?.float?.length === 1 && c.dims.every((d) => d === 1) ? c.float[0] : undefined;
  }

  /**
   * The entries of a 1-D shape tensor, where its length is known: a constant, or a Concat of
   * constants and Unsqueezed scalars (one entry each, standing for that scalar's value).
   */
  shapeEntries(value: string): Dim[] | undefined {
    const c = this.constant(value);
    if (c?.int64) return c.int64;
    const p = this.producer.get(value);
    if (p?.opType !== 'Concat' || !GraphIndex.isDefault(p)) return undefined;
    const entries: Dim[] = [];
    for (const input of p.inputs) {
      const k = this.constant(input);
      const u = this.producer.get(input);
      if (k?.int64 && k.dims.length <= 1) entries.push(...k.int64);
      else if (u?.opType === 'Unsqueeze' && GraphIndex.isDefault(u)) entries.push(`value:${u.inputs[0]!}`);
      else return undefined;
    }
    return entries;
  }

  /** The last `count` entries of a 1-D shape tensor, null where unknown (see shapeEntries; a
   * Concat whose earlier inputs are not understood may still give its tail). */
  shapeTail(value: string, count: number): Dim[] | undefined {
    const c = this.constant(value);
    if (c?.int64) return c.int64.slice(-count);
    const p = this.producer.get(value);
    if (p?.opType !== 'Concat' || !GraphIndex.isDefault(p)) return undefined;
    const tail: Dim[] = [];
    for (const input of [...p.inputs].reverse()) {
      const k = this.constant(input);
      if (k?.int64) tail.unshift(...k.int64);
      else if (this.producer.get(input)?.opType === 'Unsqueeze') tail.unshift(null);
      else return undefined;
      if (tail.length >= count) return tail.slice(-count);
    }
    return undefined;
  }

  /**
   * The dims of `value` where the graph makes them certain: a graph input's declared shape, a
   * constant's dims, a Reshape to known entries (0 and −1 entries unknown), a Transpose of one of
   * these. Undefined when even the rank is unknown.
   */
  dims(value: string): Dim[] | undefined {
    const declared = this.graph.inputDims.get(value);
    if (declared) return declared;
    const c = this.constant(value);
    if (c) return c.dims;
    const p = this.producer.get(value);
    if (!p || !GraphIndex.isDefault(p)) return undefined;
    if (p.opType === 'Reshape' && p.inputs.length >= 2 && (intAttribute(p, 'allowzero') ?? 0) === 0) {
      return this.shapeEntries(p.inputs[1]!)?.map((e) => (typeof e === 'number' && e <= 0 ? null : e));
    }
    if (p.opType === 'Transpose') {
      const from = this.dims(p.inputs[0]!);
      const perm = intsAttribute(p, 'perm');
      if (!from || !perm || perm.length !== from.length) return undefined;
      return perm.map((i) => from[i] ?? null);
    }
    return undefined;
  }

  /** Certain to broadcast along the query axis (the second-to-last). */
  broadcastsOverQueries(value: string): boolean {
    const p = this.producer.get(value);
    if (p?.opType === 'Reshape' && GraphIndex.isDefault(p) && p.inputs.length >= 2 && this.shapeTail(p.inputs[1]!, 2)?.[0] === 1) return true;
    const dims = this.dims(value);
    return dims !== undefined && (dims.length < 2 || dims[dims.length - 2] === 1);
  }
}

/** The attention blocks of a graph (see the module comment). */
export function findAttentionBlocks(index: GraphIndex): AttentionBlock[] {
  const { producer, consumers } = index;
  const isDefault = (n: NodeInfo) => GraphIndex.isDefault(n);
  const blocks: AttentionBlock[] = [];
  for (const sm of index.graph.nodes) {
    if (sm.opType !== 'Softmax' || !isDefault(sm) || (intAttribute(sm, 'axis') ?? -1) !== -1 || sm.outputs.length !== 1) continue;
    const av = consumers.get(sm.outputs[0]!);
    if (av?.length !== 1 || av[0]!.opType !== 'MatMul' || !isDefault(av[0]!) || av[0]!.inputs[0] !== sm.outputs[0] || !index.onlyFeeds(sm.outputs[0]!, av[0]!)) continue;
    const chain: AttentionBlock['chain'] = [{ node: sm, slot: 0 }];
    let value = sm.inputs[0]!;
    let qk: NodeInfo | undefined;
    for (let depth = 0; depth <= MAX_CHAIN; depth++) {
      const p = producer.get(value);
      if (!p || !isDefault(p) || p.outputs.length !== 1 || !index.onlyFeeds(value, chain[0]!.node)) break;
      if (p.opType === 'MatMul') {
        qk = p;
        break;
      }
      if (!ELEMENTWISE.has(p.opType) || p.inputs.length !== 2) break;
      // the scores come from the MatMul or the step before; the other operand is a scale or bias
      // (both or neither looking like scores: not a block these rewrites understand)
      const fromChain = (i: string) => ['MatMul', ...ELEMENTWISE].includes(producer.get(i)?.opType ?? '');
      const [a, b] = [fromChain(p.inputs[0]!), fromChain(p.inputs[1]!)];
      const slot = a && !b ? 0 : b && !a && (p.opType === 'Mul' || p.opType === 'Add') ? 1 : -1;
      if (slot < 0 || !index.broadcastsOverQueries(p.inputs[1 - slot]!)) break;
      chain.unshift({ node: p, slot });
      value = p.inputs[slot]!;
    }
    if (qk?.inputs.length === 2) blocks.push({ qk, chain, av: av[0]! });
  }
  return blocks;
}

/**
 * The model with its graph's nodes rewritten, in the same order: `first` before the first node,
 * the nodes of `replaced` where that node was, nodes in `removed` left out, every other field of
 * graph and model as it was; `opsets` (domain → version) imported in addition.
 */
export function writeGraph(model: Uint8Array, graph: ParsedGraph, first: readonly Uint8Array[], replaced: ReadonlyMap<NodeInfo, Uint8Array[]>,
  removed: ReadonlySet<NodeInfo>, opsets: Readonly<Record<string, number>> = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  let nodeIndex = 0;
  for (const f of parseFields(graph.bytes)) {
    if (f.num !== GRAPH_NODE || f.wire !== WIRE_LEN) {
      parts.push(graph.bytes.subarray(f.start, f.end));
      continue;
    }
    const node = graph.nodes[nodeIndex++]!;
    if (nodeIndex === 1) parts.push(...first.map((n) => lenField(GRAPH_NODE, n)));
    const instead = replaced.get(node);
    if (instead) parts.push(...instead.map((n) => lenField(GRAPH_NODE, n)));
    else if (!removed.has(node)) parts.push(graph.bytes.subarray(f.start, f.end));
  }
  const newGraph = concat(parts);
  const modelParts: Uint8Array[] = [];
  for (const f of parseFields(model)) {
    modelParts.push(f.num === MODEL_GRAPH && f.wire === WIRE_LEN ? lenField(MODEL_GRAPH, newGraph) : model.subarray(f.start, f.end));
  }
  for (const [domain, version] of Object.entries(opsets)) {
    if (opsetVersion(model, domain) === 0) {
      modelParts.push(lenField(MODEL_OPSET_IMPORT, concat([stringField(OPSET_DOMAIN, domain), varintField(OPSET_VERSION, version)])));
    }
  }
  return concat(modelParts);
}
