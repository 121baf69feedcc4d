/**
 * A tiny ONNX model written directly as protobuf bytes: `y = x + x` on a float32 vector.
 * `durian doctor` creates a session from it on each execution provider to see whether the
 * provider really works, without shipping a model file for the purpose.
 */

/** Number of elements of the probe's input `x` and output `y`. */
export const PROBE_LENGTH = 4;

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const ONNX_FLOAT = 1;

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function fieldVarint(field: number, value: number): number[] {
  return [...varint((field << 3) | WIRE_VARINT), ...varint(value)];
}

function fieldBytes(field: number, bytes: readonly number[]): number[] {
  return [...varint((field << 3) | WIRE_LENGTH_DELIMITED), ...varint(bytes.length), ...bytes];
}

function fieldString(field: number, text: string): number[] {
  return fieldBytes(field, [...Buffer.from(text, 'utf8')]);
}

/** ValueInfoProto{name, type: TypeProto{tensor_type{elem_type: FLOAT, shape{dim{dim_value}}}}}. */
function floatVectorInfo(name: string, length: number): number[] {
  const dim = fieldVarint(1, length);
  const shape = fieldBytes(1, dim);
  const tensorType = [...fieldVarint(1, ONNX_FLOAT), ...fieldBytes(2, shape)];
  const type = fieldBytes(1, tensorType);
  return [...fieldString(1, name), ...fieldBytes(2, type)];
}

/** Serialized ModelProto (IR version 8, opset 13) of the probe graph. */
export function buildProbeModel(): Uint8Array {
  const node = [...fieldString(1, 'x'), ...fieldString(1, 'x'), ...fieldString(2, 'y'), ...fieldString(4, 'Add')];
  const graph = [
    ...fieldBytes(1, node),
    ...fieldString(2, 'durian_probe'),
    ...fieldBytes(11, floatVectorInfo('x', PROBE_LENGTH)),
    ...fieldBytes(12, floatVectorInfo('y', PROBE_LENGTH)),
  ];
  const opset = [...fieldString(1, ''), ...fieldVarint(2, 13)];
  const model = [
    ...fieldVarint(1, 8),
    ...fieldString(2, 'durian'),
    ...fieldBytes(7, graph),
    ...fieldBytes(8, opset),
  ];
  return Uint8Array.from(model);
}
