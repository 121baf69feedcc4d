/**
 * Fixing a graph's symbolic input dimensions (`batch`, `frames`, ...) to numbers in the model bytes,
 * before a session is made from them. ONNX Runtime then folds every shape computation that hung
 * on those dimensions at load time: the exported UNet drops from 1,658 to 770 nodes after ORT's
 * basic optimisations (docs/performance.md). onnxruntime-node 1.30 ignores the
 * `freeDimensionOverrides` session option, so this does the same by editing the protobuf.
 *
 * Only `ModelProto.graph.input[*].type.tensor_type.shape.dim[*]` is touched; every other byte of the
 * model (nodes, initializers, external-data references) is copied as it is.
 */
import { ModelFileError } from '../errors';

// Field numbers from onnx.proto3
const MODEL_GRAPH = 7;
const GRAPH_INPUT = 11;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1;
const DIM_PARAM = 2;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

interface Field {
  num: number;
  wire: number;
  /** The whole field, tag included. */
  start: number;
  end: number;
  /** The payload of a length-delimited field; the value of a varint. */
  payloadStart: number;
  value: number;
}

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (!(b & 0x80)) return [value, pos];
    scale *= 128;
  }
  throw new Error('varint longer than 10 bytes');
}

function writeVarint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return Uint8Array.from(out);
}

function parseFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const [tag, afterTag] = readVarint(buf, pos);
    const num = Math.floor(tag / 8), wire = tag % 8;
    let end: number, payloadStart = afterTag, value = 0;
    if (wire === WIRE_VARINT) [value, end] = readVarint(buf, afterTag);
    else if (wire === WIRE_I64) end = afterTag + 8;
    else if (wire === WIRE_I32) end = afterTag + 4;
    else if (wire === WIRE_LEN) {
      const [len, p] = readVarint(buf, afterTag);
      payloadStart = p;
      value = len;
      end = p + len;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (end > buf.length) throw new Error('field runs past the end of its message');
    fields.push({ num, wire, start, end, payloadStart, value });
    pos = end;
  }
  return fields;
}

function lenField(num: number, payload: Uint8Array): Uint8Array {
  return concat([writeVarint(num * 8 + WIRE_LEN), writeVarint(payload.length), payload]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `buf` with each length-delimited field `num` replaced by `edit(payload)` (null: unchanged). */
function editFields(buf: Uint8Array, num: number, edit: (payload: Uint8Array) => Uint8Array | null): Uint8Array {
  const parts: Uint8Array[] = [];
  let copied = 0, changed = false;
  for (const f of parseFields(buf)) {
    if (f.num !== num || f.wire !== WIRE_LEN) continue;
    const next = edit(buf.subarray(f.payloadStart, f.end));
    if (!next) continue;
    parts.push(buf.subarray(copied, f.start), lenField(num, next));
    copied = f.end;
    changed = true;
  }
  if (!changed) return buf;
  parts.push(buf.subarray(copied));
  return concat(parts);
}

const decoder = new TextDecoder();

function subFields(buf: Uint8Array, num: number): Uint8Array[] {
  return parseFields(buf).filter((f) => f.num === num && f.wire === WIRE_LEN).map((f) => buf.subarray(f.payloadStart, f.end));
}

/** Each graph input's dimensions as the model declares them: a number or a symbolic name. */
export function readInputDims(model: Uint8Array): Record<string, (number | string)[]> {
  const out: Record<string, (number | string)[]> = {};
  try {
    for (const graph of subFields(model, MODEL_GRAPH)) {
      for (const input of subFields(graph, GRAPH_INPUT)) {
        const name = subFields(input, VALUE_INFO_NAME).map((b) => decoder.decode(b))[0] ?? '';
        const dims: (number | string)[] = [];
        for (const type of subFields(input, VALUE_INFO_TYPE)) {
          for (const tensor of subFields(type, TYPE_TENSOR)) {
            for (const shape of subFields(tensor, TENSOR_SHAPE)) {
              for (const dim of subFields(shape, SHAPE_DIM)) {
                const f = parseFields(dim);
                const param = f.find((x) => x.num === DIM_PARAM && x.wire === WIRE_LEN);
                const value = f.find((x) => x.num === DIM_VALUE && x.wire === WIRE_VARINT);
                dims.push(param ? decoder.decode(dim.subarray(param.payloadStart, param.end)) : value ? value.value : '?');
              }
            }
          }
        }
        out[name] = dims;
      }
    }
  } catch (cause) {
    throw new ModelFileError(`not a readable ONNX model: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  return out;
}

/**
 * The model with every input dimension whose symbolic name is a key of `values` set to that
 * number. Names not in the model are ignored; dimensions already numeric stay.
 */
export function fixInputDims(model: Uint8Array, values: Readonly<Record<string, number>>): Uint8Array {
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`dimension ${k} = ${v}: not a positive integer`);
  }
  const fixDim = (dim: Uint8Array): Uint8Array | null => {
    const param = parseFields(dim).find((x) => x.num === DIM_PARAM && x.wire === WIRE_LEN);
    if (!param) return null;
    const value = values[decoder.decode(dim.subarray(param.payloadStart, param.end))];
    if (value === undefined) return null;
    // the Dimension's oneof becomes dim_value; a denotation (field 3), if any, is kept
    const rest = parseFields(dim).filter((x) => x.num !== DIM_PARAM && x.num !== DIM_VALUE).map((x) => dim.subarray(x.start, x.end));
    return concat([writeVarint(DIM_VALUE * 8 + WIRE_VARINT), writeVarint(value), ...rest]);
  };
  try {
    return editFields(model, MODEL_GRAPH, (graph) =>
      editFields(graph, GRAPH_INPUT, (input) =>
        editFields(input, VALUE_INFO_TYPE, (type) =>
          editFields(type, TYPE_TENSOR, (tensor) =>
            editFields(tensor, TENSOR_SHAPE, (shape) => editFields(shape, SHAPE_DIM, fixDim))))));
  } catch (cause) {
    throw new ModelFileError(`not a readable ONNX model: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * The binding of symbolic dimension names to sizes that these feeds imply, or null when two feeds
 * disagree on a name (ORT will then report the mismatch itself).
 */
export function bindDims(declared: Readonly<Record<string, readonly (number | string)[]>>,
  feeds: Readonly<Record<string, { dims: readonly number[] }>>): Record<string, number> | null {
  const binding: Record<string, number> = {};
  for (const [name, dims] of Object.entries(declared)) {
    const fed = feeds[name]?.dims;
    if (!fed || fed.length !== dims.length) return null;
    for (let i = 0; i < dims.length; i++) {
      const d = dims[i]!;
      if (typeof d !== 'string') continue;
      if (binding[d] !== undefined && binding[d] !== fed[i]) return null;
      binding[d] = fed[i]!;
    }
  }
  return binding;
}
