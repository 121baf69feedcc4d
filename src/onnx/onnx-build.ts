/**
 * Encoders of the ONNX pieces the graph rewrites insert (attention rewrites, float16 conversion):
 * nodes, their attributes and Constant nodes of a few values, as protobuf bytes.
 */
import { float16Bits } from './float16';
import { concat, lenField, stringField, varintField, WIRE_I32 } from './protobuf';
import {
  ATTR_F, ATTR_I, ATTR_INTS, ATTR_NAME, ATTR_T, ATTR_TYPE, ATTR_TYPE_FLOAT, ATTR_TYPE_INT, ATTR_TYPE_TENSOR, NODE_ATTRIBUTE, NODE_DOMAIN, NODE_INPUT, NODE_NAME, NODE_OP_TYPE, NODE_OUTPUT, TENSOR_DATA_TYPE, TENSOR_DIMS, TENSOR_FLOAT, TENSOR_FLOAT16, TENSOR_INT64, TENSOR_NAME, TENSOR_RAW_DATA,
} from './onnx-fields';

export function encodeNode(op: string, inputs: readonly string[], outputs: readonly string[], name: string,
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

export function intAttr(name: string, value: number): Uint8Array {
  return concat([stringField(ATTR_NAME, name), varintField(ATTR_TYPE, ATTR_TYPE_INT), varintField(ATTR_I, value)]);
}

export function intsAttr(name: string, values: readonly number[]): Uint8Array {
  return concat([stringField(ATTR_NAME, name), varintField(ATTR_TYPE, 7), ...values.map((v) => varintField(ATTR_INTS, v))]);
}

export function floatAttr(name: string, value: number): Uint8Array {
  const f = new Uint8Array(4);
  new DataView(f.buffer).setFloat32(0, value, true);
  return concat([stringField(ATTR_NAME, name), varintField(ATTR_TYPE, ATTR_TYPE_FLOAT), Uint8Array.of(ATTR_F * 8 + WIRE_I32), f]);
}

function tensorAttr(name: string, dims: readonly number[], dataType: number, raw: Uint8Array, tensorName: string): Uint8Array {
  const tensor = concat([...dims.map((d) => varintField(TENSOR_DIMS, d)), varintField(TENSOR_DATA_TYPE, dataType),
    stringField(TENSOR_NAME, tensorName), lenField(TENSOR_RAW_DATA, raw)]);
  return concat([stringField(ATTR_NAME, name), varintField(ATTR_TYPE, ATTR_TYPE_TENSOR), lenField(ATTR_T, tensor)]);
}

/** A Constant node holding the int64 vector `values`. */
export function int64Constant(output: string, values: readonly number[]): Uint8Array {
  const raw = new Uint8Array(8 * values.length);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
  return encodeNode('Constant', [], [output], output, [tensorAttr('value', [values.length], TENSOR_INT64, raw, output)]);
}

/** Little-endian raw data of one float of `dataType` (float32 or float16). */
function floatRaw(value: number, dataType: number): Uint8Array {
  if (dataType === TENSOR_FLOAT16) {
    const h = float16Bits(value);
    return Uint8Array.of(h & 0xff, h >>> 8);
  }
  if (dataType !== TENSOR_FLOAT) throw new RangeError(`float constants are float32 or float16, not ONNX type ${dataType}`);
  const raw = new Uint8Array(4);
  new DataView(raw.buffer).setFloat32(0, value, true);
  return raw;
}

/** A Constant node holding one float32 (or float16: `dataType`), of shape [] (or `dims`, all 1). */
export function floatConstant(output: string, value: number, dims: readonly number[] = [], dataType = TENSOR_FLOAT): Uint8Array {
  return encodeNode('Constant', [], [output], output, [tensorAttr('value', dims, dataType, floatRaw(value, dataType), output)]);
}

/** A float32 (or float16: `dataType`) tensor attribute of one element (ConstantOfShape's `value`). */
export function floatTensorAttr(name: string, value: number, dataType = TENSOR_FLOAT): Uint8Array {
  return tensorAttr(name, [1], dataType, floatRaw(value, dataType), name);
}
