/**
 * Float16 compute: a rewrite of the model bytes, before a session is made from them, after which
 * the graph's float32 tensors are float16 while its inputs and outputs stay float32 (a Cast after
 * each float input and before each float output), so callers feed and read it as before. What
 * `python -m durian_export.half` does with ONNX Runtime's converter (convert_float_to_float16 with
 * keep_io_types), done at load time for GPU providers (pipeline/precision.ts).
 *
 * - Float32 initializers and the float32 tensors of Constant and ConstantOfShape become float16:
 *   rounded to nearest, ties to even; as ONNX Runtime's converter does, a finite value beyond
 *   float16's range becomes ±65,504 and a non-zero one below its smallest step ±2⁻²⁴, never ±∞ or
 *   0. Cast(to=FLOAT) becomes Cast(to=FLOAT16).
 * - Operators of half-ops.ts FLOAT32_OPS (Resize, Range, TopK, ...) compute in float32 between
 *   casts. A value some operator needs as exact float32 (Resize's roi and scales) is computed in
 *   float32 together with every float value it is computed from, and a constant read in float32
 *   anywhere stays float32 (float16 readers get a Cast of it).
 * - Element types are followed through the graph in node order (half-ops.ts). An operator, or a
 *   construct, the conversion does not know (an operator half-ops.ts does not list, a subgraph, a
 *   Constant given as value_float(s), external or sparse data, a non-tensor value) makes it throw,
 *   naming it: the caller then runs the float32 graph instead of something wrong.
 *
 * Float32 tensors only: float16, bfloat16 and double values are left as they are (the shipped
 * UNet's float16 weights with their Cast(to=FLOAT) become float16 weights with a no-op Cast, which
 * ONNX Runtime removes). Every other byte of the model is copied as it is.
 */
import { ModelFileError } from '../errors';
import { intAttribute, parseGraph, TENSOR_FLOAT, TENSOR_FLOAT16, unusedPrefix, type NodeInfo } from './attention-graph';
import { encodeNode, floatTensorAttr, intAttr } from './onnx-build';
import { getOpRule, isFloat32Op, type OpRule } from './half-ops';
import {
  attributeName, checkAttributes, constantType, labelOf, readValueInfo, rewriteNode, tensorToFloat16, toFloat16ValueInfo, valueTensor, withInt,
} from './half-proto';
import { concat, editFields, lenField, parseFields, stringFields, subFields, WIRE_LEN, WIRE_VARINT } from './protobuf';
import {
  ATTR_T, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_NODE, GRAPH_OUTPUT, GRAPH_SPARSE_INITIALIZER, GRAPH_VALUE_INFO, MODEL_GRAPH, TENSOR_DATA_TYPE, TENSOR_NAME,
} from './onnx-fields';


/** What the conversion did. */
export interface Float16Report {
  /** Nodes that now compute in float16 (constants included). */
  float16Nodes: number;
  /** Nodes with float data that compute in float32 between casts, by operator. */
  float32Nodes: Record<string, number>;
  /** Cast nodes inserted (graph inputs and outputs, around the float32 nodes). */
  castsInserted: number;
  /** Float32 initializers now stored as float16. */
  initializers: number;
}

export interface Float16Result {
  model: Uint8Array;
  report: Float16Report;
}

/** Each float input of a node by role: slots of the node's compute type, exact float32 ones, any type. */
interface NodeFloats {
  rule: OpRule;
  compute: number[];
  exact: number[];
  any: number[];
  /** Outputs of the node's compute type. */
  outputs: number[];
  /** Constant or ConstantOfShape with a float32 value: its type follows its readers. */
  constant: boolean;
}

type Mode = 'none' | 'float16' | 'float32';

/**
 * The model with its float32 tensors in float16 and float32 graph inputs and outputs (module
 * comment), and what was done. Throws ModelFileError naming what it cannot convert.
 */
export function convertToFloat16(model: Uint8Array): Float16Result {
  try {
    return convert(model);
  } catch (cause) {
    throw new ModelFileError(`cannot compute this graph in float16: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

function convert(model: Uint8Array): Float16Result {
  const graph = parseGraph(model);
  if (!graph) throw new Error('the model has no graph, or more than one');
  const g = graph.bytes;
  if (parseFields(g).some((f) => f.num === GRAPH_SPARSE_INITIALIZER)) throw new Error('sparse initializers are not converted');

  // 1. Element types, in node order
  const types = new Map<string, number>();
  const io = (num: number, what: string) => subFields(g, num).map((v) => {
    const info = readValueInfo(v);
    if (info.elemType === undefined) throw new Error(`graph ${what} "${info.name}" is not a tensor`);
    return info as { name: string; elemType: number };
  });
  const graphInputs = io(GRAPH_INPUT, 'input');
  const graphOutputs = new Set(io(GRAPH_OUTPUT, 'output').map((o) => o.name));
  graphInputs.forEach((i) => types.set(i.name, i.elemType));
  const initializers = subFields(g, GRAPH_INITIALIZER).map((bytes) => ({
    bytes, name: stringFields(bytes, TENSOR_NAME)[0] ?? '',
    dataType: parseFields(bytes).find((f) => f.num === TENSOR_DATA_TYPE && f.wire === WIRE_VARINT)?.value ?? 0,
  }));
  // an initializer also declared as a graph input is an input (its default value): left as it is
  const fixedInitializers = new Set(graphInputs.map((i) => i.name));
  for (const t of initializers) if (!fixedInitializers.has(t.name)) types.set(t.name, t.dataType);

  const floats = new Map<NodeInfo, NodeFloats>();
  const isFloat = (v: string | undefined) => !!v && types.get(v) === TENSOR_FLOAT;
  for (const node of graph.nodes) {
    checkAttributes(node);
    const rule = getOpRule(node);
    if (!rule) throw new Error(`${labelOf(node)}: an operator the conversion does not know`);
    node.inputs.forEach((v) => {
      if (v && !types.has(v)) throw new Error(`${labelOf(node)}: input "${v}" is used before it is produced`);
    });
    const constant = node.opType === 'Constant' || node.opType === 'ConstantOfShape';
    const f: NodeFloats = { rule, compute: [], exact: [], any: [], outputs: [], constant: false };
    node.inputs.forEach((v, i) => {
      if (!isFloat(v)) return;
      if (rule.anyType?.includes(i)) f.any.push(i);
      else if (rule.float32Inputs?.includes(i)) f.exact.push(i);
      else f.compute.push(i);
    });
    node.outputs.forEach((o, k) => {
      if (!o) return;
      let type: number;
      if (constant) {
        type = constantType(node);
      } else {
        const t = rule.output(node, k);
        if ('type' in t) type = t.type;
        else {
          const from = node.inputs[t.from];
          if (!from) throw new Error(`${labelOf(node)}: the type of output ${k} follows input ${t.from}, which is missing`);
          type = types.get(from)!;
        }
        if (type === TENSOR_FLOAT && !('fixed' in t && t.fixed)) f.outputs.push(k);
      }
      if (!type) throw new Error(`${labelOf(node)}: output "${o}" has no element type`);
      types.set(o, type);
    });
    f.constant = constant && isFloat(node.outputs[0]);
    floats.set(node, f);
  }
  for (const o of graphOutputs) if (!types.has(o)) throw new Error(`graph output "${o}" is never produced`);

  // 2. Which nodes compute in float32: FLOAT32_OPS, and (from the last node back) every node that
  // computes a value some node needs as exact float32, with the float values it reads
  const exactValues = new Set<string>();
  const modes = new Map<NodeInfo, Mode>();
  for (const node of [...graph.nodes].reverse()) {
    const f = floats.get(node)!;
    if (f.constant) continue;
    const hasFloats = f.compute.length + f.exact.length + f.outputs.length > 0;
    const exact = node.outputs.some((o) => exactValues.has(o));
    f.exact.forEach((i) => exactValues.add(node.inputs[i]!));
    if (exact) [...f.compute, ...f.any].forEach((i) => exactValues.add(node.inputs[i]!));
    modes.set(node, !hasFloats ? 'none' : exact || isFloat32Op(node) ? 'float32' : 'float16');
  }
  // a constant (initializer, Constant, ConstantOfShape) stays float32 when anything reads it in float32
  const read32 = new Set<string>([...exactValues, ...graphOutputs]);
  for (const node of graph.nodes) {
    const f = floats.get(node)!;
    if (modes.get(node) === 'float32') f.compute.forEach((i) => read32.add(node.inputs[i]!));
  }
  for (const node of graph.nodes) {
    const f = floats.get(node)!;
    if (f.constant) modes.set(node, read32.has(node.outputs[0]!) ? 'float32' : 'float16');
  }

  // 3. The nodes again, each float value fed in its reader's type (a Cast where it has another)
  const prefix = unusedPrefix(graph, 'durian_half');
  const versions = new Map<string, Map<number, string>>();
  const nodes: Uint8Array[] = [];
  let casts = 0;
  const cast = (from: string, to: string, type: number) => {
    nodes.push(encodeNode('Cast', [from], [to], to, [intAttr('to', type)]));
    casts++;
  };
  const produced = (v: string, type: number, name = v) => {
    const have = versions.get(v) ?? new Map<number, string>();
    have.set(type, name);
    versions.set(v, have);
  };
  /** `v` in `type`: as produced, or through a Cast made now (before the node that needs it) and reused. */
  const versionOf = (v: string, type: number): string => {
    const have = versions.get(v)!;
    const name = have.get(type);
    if (name) return name;
    const made = `${prefix}/${v}/${type === TENSOR_FLOAT16 ? 'float16' : 'float32'}`;
    cast(have.values().next().value!, made, type);
    have.set(type, made);
    return made;
  };
  const anyVersion = (v: string) => versions.get(v)!.values().next().value!;
  for (const i of graphInputs) if (i.elemType === TENSOR_FLOAT) produced(i.name, TENSOR_FLOAT);
  const initializerType = new Map<string, number>();
  for (const t of initializers) {
    if (t.dataType !== TENSOR_FLOAT || fixedInitializers.has(t.name)) continue;
    const type = read32.has(t.name) ? TENSOR_FLOAT : TENSOR_FLOAT16;
    initializerType.set(t.name, type);
    produced(t.name, type);
  }

  const report: Float16Report = { float16Nodes: 0, float32Nodes: {}, castsInserted: 0, initializers: 0 };
  for (const node of graph.nodes) {
    const f = floats.get(node)!;
    const mode = modes.get(node)!;
    if (mode === 'float32') report.float32Nodes[node.opType] = (report.float32Nodes[node.opType] ?? 0) + 1;
    if (mode === 'float16') report.float16Nodes++;
    if (f.constant) {
      const type = mode === 'float16' ? TENSOR_FLOAT16 : TENSOR_FLOAT;
      const value = valueTensor(node);
      nodes.push(type === TENSOR_FLOAT ? node.bytes : value
        ? rewriteNode(node, node.inputs, node.outputs, (a) => (attributeName(a) === 'value' ? editFields(a, ATTR_T, tensorToFloat16) : undefined))
        : rewriteNode(node, node.inputs, node.outputs, undefined, [floatTensorAttr('value', 0, TENSOR_FLOAT16)]));
      produced(node.outputs[0]!, type);
      continue;
    }
    const type = mode === 'float16' ? TENSOR_FLOAT16 : TENSOR_FLOAT;
    const inputs = node.inputs.map((v, i) => {
      if (!isFloat(v)) return v;
      if (f.any.includes(i)) return anyVersion(v);
      return versionOf(v, f.exact.includes(i) ? TENSOR_FLOAT : type);
    });
    const after: [string, string][] = [];
    const outputs = node.outputs.map((o, k) => {
      if (!isFloat(o)) return o;
      if (!f.outputs.includes(k) || type === TENSOR_FLOAT) {
        produced(o, TENSOR_FLOAT);
        return o;
      }
      if (!graphOutputs.has(o)) {
        produced(o, TENSOR_FLOAT16);
        return o;
      }
      // a graph output stays float32 under its name: the node writes a float16 value, a Cast the output
      const inner = `${prefix}/${o}/float16`;
      produced(o, TENSOR_FLOAT16, inner);
      produced(o, TENSOR_FLOAT);
      after.push([inner, o]);
      return inner;
    });
    const castTo = mode === 'float16' && node.opType === 'Cast' && intAttribute(node, 'to') === TENSOR_FLOAT;
    const same = !castTo && inputs.every((v, i) => v === node.inputs[i]) && outputs.every((v, k) => v === node.outputs[k]);
    nodes.push(same ? node.bytes : rewriteNode(node, inputs, outputs, castTo ? (a) => (attributeName(a) === 'to' ? withInt(a, TENSOR_FLOAT16) : undefined) : undefined));
    after.forEach(([inner, o]) => cast(inner, o, TENSOR_FLOAT));
  }
  report.castsInserted = casts;

  // 4. The graph written back: new nodes in place of the old, initializers and value_info retyped
  const parts: Uint8Array[] = [];
  let nodesWritten = false;
  for (const field of parseFields(g)) {
    const payload = g.subarray(field.payloadStart, field.end);
    if (field.num === GRAPH_NODE && field.wire === WIRE_LEN) {
      if (!nodesWritten) parts.push(...nodes.map((n) => lenField(GRAPH_NODE, n)));
      nodesWritten = true;
    } else if (field.num === GRAPH_INITIALIZER && field.wire === WIRE_LEN) {
      const name = stringFields(payload, TENSOR_NAME)[0] ?? '';
      const half = initializerType.get(name) === TENSOR_FLOAT16;
      if (half) report.initializers++;
      parts.push(half ? lenField(GRAPH_INITIALIZER, tensorToFloat16(payload)) : g.subarray(field.start, field.end));
    } else if (field.num === GRAPH_VALUE_INFO && field.wire === WIRE_LEN) {
      const info = readValueInfo(payload);
      if (info.elemType === undefined) throw new Error(`value_info "${info.name}" is not a tensor type`);
      const half = info.elemType === TENSOR_FLOAT && versions.get(info.name)?.get(TENSOR_FLOAT16) === info.name;
      parts.push(half ? lenField(GRAPH_VALUE_INFO, toFloat16ValueInfo(payload)) : g.subarray(field.start, field.end));
    } else {
      parts.push(g.subarray(field.start, field.end));
    }
  }
  if (!nodesWritten) parts.push(...nodes.map((n) => lenField(GRAPH_NODE, n)));
  const newGraph = concat(parts);
  return { model: editFields(model, MODEL_GRAPH, () => newGraph), report };
}

/** A one-line summary of a report (`1129 nodes in float16, 4 in float32 (Constant 2, Resize 2), 25
 * casts inserted, 0 initializers converted`). */
export function describeFloat16Report(r: Float16Report): string {
  const kept = Object.entries(r.float32Nodes);
  const n = kept.reduce((a, [, c]) => a + c, 0);
  return `${r.float16Nodes} nodes in float16, ${n} in float32${n ? ` (${kept.map(([op, c]) => `${op} ${c}`).join(', ')})` : ''}, `
    + `${r.castsInserted} casts inserted, ${r.initializers} initializers converted`;
}
