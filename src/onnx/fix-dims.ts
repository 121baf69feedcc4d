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
import { concat, decoder, editFields, parseFields, subFields, writeVarint, WIRE_LEN, WIRE_VARINT } from './protobuf';
import {
  DIM_PARAM, DIM_VALUE, GRAPH_INPUT, MODEL_GRAPH, SHAPE_DIM, TENSOR_TYPE_SHAPE, TYPE_TENSOR, VALUE_INFO_NAME, VALUE_INFO_TYPE,
} from './onnx-fields';


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
            for (const shape of subFields(tensor, TENSOR_TYPE_SHAPE)) {
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
            editFields(tensor, TENSOR_TYPE_SHAPE, (shape) => editFields(shape, SHAPE_DIM, fixDim))))));
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
