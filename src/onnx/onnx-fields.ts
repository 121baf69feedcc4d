/**
 * Field numbers of onnx.proto3, and the TensorProto data types and AttributeProto types this code
 * reads: shared by the modules that read and rewrite ONNX model bytes (fix-dims.ts,
 * attention-graph.ts with the rewrites built on it, half.ts).
 */

// ModelProto, OperatorSetIdProto
export const MODEL_GRAPH = 7;
export const MODEL_OPSET_IMPORT = 8;
export const OPSET_DOMAIN = 1;
export const OPSET_VERSION = 2;

// GraphProto
export const GRAPH_NODE = 1;
export const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
export const GRAPH_OUTPUT = 12;
export const GRAPH_VALUE_INFO = 13;
export const GRAPH_SPARSE_INITIALIZER = 15;

// NodeProto
export const NODE_INPUT = 1;
export const NODE_OUTPUT = 2;
export const NODE_NAME = 3;
export const NODE_OP_TYPE = 4;
export const NODE_ATTRIBUTE = 5;
export const NODE_DOMAIN = 7;

// AttributeProto and its AttributeType values
export const ATTR_NAME = 1;
export const ATTR_F = 2;
export const ATTR_I = 3;
export const ATTR_T = 5;
export const ATTR_G = 6;
export const ATTR_FLOATS = 7;
export const ATTR_INTS = 8;
export const ATTR_TENSORS = 10;
export const ATTR_GRAPHS = 11;
export const ATTR_TYPE = 20;
export const ATTR_SPARSE_TENSOR = 22;
export const ATTR_SPARSE_TENSORS = 23;
export const ATTR_TYPE_FLOAT = 1;
export const ATTR_TYPE_INT = 2;
export const ATTR_TYPE_TENSOR = 4;

// ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto and its Dimension
export const VALUE_INFO_NAME = 1;
export const VALUE_INFO_TYPE = 2;
export const TYPE_TENSOR = 1;
export const TENSOR_TYPE_ELEM = 1;
export const TENSOR_TYPE_SHAPE = 2;
export const SHAPE_DIM = 1;
export const DIM_VALUE = 1;
export const DIM_PARAM = 2;

// TensorProto
export const TENSOR_DIMS = 1;
export const TENSOR_DATA_TYPE = 2;
export const TENSOR_FLOAT_DATA = 4;
export const TENSOR_INT64_DATA = 7;
export const TENSOR_NAME = 8;
export const TENSOR_RAW_DATA = 9;
export const TENSOR_EXTERNAL_DATA = 13;
export const TENSOR_DATA_LOCATION = 14;

// TensorProto.DataType values
export const TENSOR_FLOAT = 1;
export const TENSOR_INT64 = 7;
export const TENSOR_STRING = 8;
export const TENSOR_BOOL = 9;
export const TENSOR_FLOAT16 = 10;
