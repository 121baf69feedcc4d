/**
 * The wire-level pieces of the float16 conversion (half.ts): reading and rewriting single nodes,
 * attributes, value infos and tensors of an ONNX model's protobuf, and float32 → float16 rounding
 * of a tensor's values. half.ts holds the conversion itself (which values go to float16).
 */
import { TENSOR_FLOAT, TENSOR_FLOAT16, type NodeInfo } from './attention-graph';
import { float16FromFloat32Bits } from './float16';
import { concat, editFields, lenField, parseFields, stringField, stringFields, subFields, varintField, WIRE_I32, WIRE_LEN, WIRE_VARINT } from './protobuf';
import {
  ATTR_G, ATTR_GRAPHS, ATTR_I, ATTR_NAME, ATTR_SPARSE_TENSOR, ATTR_SPARSE_TENSORS, ATTR_T, ATTR_TENSORS, NODE_ATTRIBUTE, NODE_INPUT, NODE_OUTPUT, TENSOR_DATA_LOCATION, TENSOR_DATA_TYPE, TENSOR_EXTERNAL_DATA, TENSOR_FLOAT_DATA, TENSOR_INT64, TENSOR_NAME, TENSOR_RAW_DATA, TENSOR_STRING, TENSOR_TYPE_ELEM, TYPE_TENSOR, VALUE_INFO_NAME, VALUE_INFO_TYPE,
} from './onnx-fields';

export const labelOf = (node: NodeInfo) => `node "${node.name || node.outputs[0] || '?'}" (${node.domain ? `${node.domain}.` : ''}${node.opType})`;

/** The name of an attribute, from its payload. */
export function attributeName(attr: Uint8Array): string {
  return stringFields(attr, ATTR_NAME)[0] ?? '';
}

/** Refuses attributes the conversion cannot follow: subgraphs, sparse tensors, tensors outside Constant/ConstantOfShape `value`. */
export function checkAttributes(node: NodeInfo): void {
  const constant = (node.domain === '' || node.domain === 'ai.onnx') && (node.opType === 'Constant' || node.opType === 'ConstantOfShape');
  for (const attr of node.attributes) {
    const name = attributeName(attr);
    const nums = new Set(parseFields(attr).map((f) => f.num));
    if (nums.has(ATTR_G) || nums.has(ATTR_GRAPHS)) throw new Error(`${labelOf(node)}: attribute "${name}" holds a subgraph, which the conversion does not follow`);
    if (nums.has(ATTR_SPARSE_TENSOR) || nums.has(ATTR_SPARSE_TENSORS)) throw new Error(`${labelOf(node)}: sparse tensor attribute "${name}"`);
    if ((nums.has(ATTR_T) || nums.has(ATTR_TENSORS)) && !(constant && name === 'value')) throw new Error(`${labelOf(node)}: tensor attribute "${name}"`);
    if (constant && name !== 'value' && name !== 'value_int' && name !== 'value_ints' && name !== 'value_string' && name !== 'value_strings') {
      throw new Error(`${labelOf(node)}: attribute "${name}" (a Constant's value_float(s) or sparse_value is not converted)`);
    }
  }
}

/** The tensor attribute `value` of a Constant or ConstantOfShape, if any. */
export function valueTensor(node: NodeInfo): Uint8Array | undefined {
  const attr = node.attributes.find((a) => attributeName(a) === 'value');
  return attr ? subFields(attr, ATTR_T)[0] : undefined;
}

/** The element type of a Constant's or ConstantOfShape's output (ConstantOfShape without a value: float32 zeros). */
export function constantType(node: NodeInfo): number {
  const t = valueTensor(node);
  if (t) return parseFields(t).find((f) => f.num === TENSOR_DATA_TYPE && f.wire === WIRE_VARINT)?.value ?? 0;
  if (node.opType === 'ConstantOfShape') return TENSOR_FLOAT;
  const names = node.attributes.map(attributeName);
  if (names.includes('value_int') || names.includes('value_ints')) return TENSOR_INT64;
  if (names.includes('value_string') || names.includes('value_strings')) return TENSOR_STRING;
  throw new Error(`${labelOf(node)}: no value`);
}

/** A ValueInfoProto's name and element type (undefined: not a tensor type). */
export function readValueInfo(info: Uint8Array): { name: string; elemType?: number } {
  const name = stringFields(info, VALUE_INFO_NAME)[0] ?? '';
  const type = subFields(info, VALUE_INFO_TYPE)[0];
  if (!type) return { name };
  const fields = parseFields(type);
  if (fields.some((f) => f.num !== TYPE_TENSOR && f.num !== 6)) return { name };  // 6: denotation
  const tensor = subFields(type, TYPE_TENSOR)[0];
  const elem = tensor && parseFields(tensor).find((f) => f.num === TENSOR_TYPE_ELEM && f.wire === WIRE_VARINT);
  return elem ? { name, elemType: elem.value } : { name };
}

/** The ValueInfoProto with its tensor element type set to float16. */
export function toFloat16ValueInfo(info: Uint8Array): Uint8Array {
  const setElem = (tensor: Uint8Array) => concat([...parseFields(tensor).filter((f) => f.num !== TENSOR_TYPE_ELEM)
    .map((f) => tensor.subarray(f.start, f.end)), varintField(TENSOR_TYPE_ELEM, TENSOR_FLOAT16)]);
  return editFields(info, VALUE_INFO_TYPE, (type) => editFields(type, TYPE_TENSOR, setElem));
}

/** IEEE binary16 bits of the float32 with bits `bits`, saturated as the module comment says. */
export function saturatedHalf(bits: number): number {
  const h = float16FromFloat32Bits(bits);
  const finite = ((bits >>> 23) & 0xff) !== 0xff;
  if (finite && (h & 0x7fff) === 0x7c00) return (h & 0x8000) | 0x7bff;
  if ((h & 0x7fff) === 0 && (bits & 0x7fffffff) !== 0) return (h & 0x8000) | 1;
  return h;
}

/** A float32 TensorProto as float16 (raw data; float_data or raw_data read). */
export function tensorToFloat16(t: Uint8Array): Uint8Array {
  const fields = parseFields(t);
  const name = () => stringFields(t, TENSOR_NAME)[0] ?? '?';
  if (fields.some((f) => f.num === TENSOR_EXTERNAL_DATA || (f.num === TENSOR_DATA_LOCATION && f.value === 1))) {
    throw new Error(`tensor "${name()}": external data is not converted`);
  }
  const bits: number[] = [];
  let raw: Uint8Array | undefined;
  for (const f of fields) {
    if (f.num === TENSOR_RAW_DATA && f.wire === WIRE_LEN) raw = t.subarray(f.payloadStart, f.end);
    else if (f.num === TENSOR_FLOAT_DATA && f.wire === WIRE_I32) bits.push(new DataView(t.buffer, t.byteOffset + f.payloadStart, 4).getUint32(0, true));
    else if (f.num === TENSOR_FLOAT_DATA && f.wire === WIRE_LEN) {
      const view = new DataView(t.buffer, t.byteOffset + f.payloadStart, f.end - f.payloadStart);
      for (let p = 0; p + 4 <= view.byteLength; p += 4) bits.push(view.getUint32(p, true));
    }
  }
  let half: Uint16Array;
  if (raw) {
    if (raw.byteLength % 4) throw new Error(`tensor "${name()}": raw data of ${raw.byteLength} bytes is not float32`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    half = new Uint16Array(raw.byteLength / 4);
    for (let i = 0; i < half.length; i++) half[i] = saturatedHalf(view.getUint32(4 * i, true));
  } else {
    half = Uint16Array.from(bits, saturatedHalf);
  }
  const bytes = new Uint8Array(half.length * 2);
  const out = new DataView(bytes.buffer);
  half.forEach((h, i) => out.setUint16(2 * i, h, true));
  const kept = fields.filter((f) => f.num !== TENSOR_DATA_TYPE && f.num !== TENSOR_FLOAT_DATA && f.num !== TENSOR_RAW_DATA);
  return concat([...kept.map((f) => t.subarray(f.start, f.end)), varintField(TENSOR_DATA_TYPE, TENSOR_FLOAT16), lenField(TENSOR_RAW_DATA, bytes)]);
}

/** The node's bytes with new input and output names and, where `attr` returns bytes, attributes. */
export function rewriteNode(node: NodeInfo, inputs: readonly string[], outputs: readonly string[], attr?: (a: Uint8Array) => Uint8Array | undefined,
  extraAttributes: readonly Uint8Array[] = []): Uint8Array {
  let i = 0, o = 0;
  const parts = parseFields(node.bytes).map((f) => {
    if (f.num === NODE_INPUT && f.wire === WIRE_LEN) return stringField(NODE_INPUT, inputs[i++]!);
    if (f.num === NODE_OUTPUT && f.wire === WIRE_LEN) return stringField(NODE_OUTPUT, outputs[o++]!);
    if (f.num === NODE_ATTRIBUTE && f.wire === WIRE_LEN && attr) {
      const next = attr(node.bytes.subarray(f.payloadStart, f.end));
      if (next) return lenField(NODE_ATTRIBUTE, next);
    }
    return node.bytes.subarray(f.start, f.end);
  });
  return concat([...parts, ...extraAttributes.map((a) => lenField(NODE_ATTRIBUTE, a))]);
}

/** An attribute with its int (`i`) set to `value`. */
export function withInt(attr: Uint8Array, value: number): Uint8Array {
  return concat([...parseFields(attr).filter((f) => f.num !== ATTR_I).map((f) => attr.subarray(f.start, f.end)), varintField(ATTR_I, value)]);
}
