import { readFileSync } from 'node:fs';
import path from 'node:path';

import { ModelFileError } from '../../../src/errors';
import { GraphIndex, intAttribute, parseGraph, TENSOR_FLOAT, TENSOR_FLOAT16, type NodeInfo } from '../../../src/onnx/attention-graph';
import { encodeNode, intAttr } from '../../../src/onnx/onnx-build';
import { readInputDims } from '../../../src/onnx/fix-dims';
import { fuseAttention } from '../../../src/onnx/fuse-attention';
import { convertToFloat16 } from '../../../src/onnx/half';
import { concat, lenField, stringField, varintField } from '../../../src/onnx/protobuf';
import { createFloat32Tensor, createInferenceSession, type InferenceSession } from '../../../src/onnx/runtime';
import { unetFeeds } from './unet-feeds';

const MODEL = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx-tiny');
const TIMEOUT_MS = 120_000;

// Float16 keeps 11 significant bits (a step of 2⁻¹⁰ at 1): every stored activation and weight moves
// by up to 2⁻¹¹ of itself, and a few dozen layers add that up. With these feeds the tiny UNet and VAE
// decoder move by 1.3e-3 and 1.4e-3 of their output's largest magnitude (the shipped ones by 7.5e-4
// and 1.4e-3, bench/half-cross-check.py); 1e-2 is the gate `python -m durian_export.half` puts on its
// conversions (--max-error).
const TOLERANCE = 1e-2;

type Feeds = Record<string, ReturnType<typeof createFloat32Tensor>>;

function maxDiff(a: Float32Array, b: Float32Array): { diff: number; range: number } {
  let diff = 0, range = 0;
  a.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - b[i]!));
    range = Math.max(range, Math.abs(b[i]!));
  });
  return { diff, range };
}

async function withSession<T>(model: Uint8Array, fn: (s: InferenceSession) => Promise<T>): Promise<T> {
  const session = await createInferenceSession(model, ['cpu']);
  try {
    return await fn(session);
  } finally {
    await session.release();
  }
}

const outputOf = (model: Uint8Array, feeds: Feeds, name: string) => withSession(model, async (s) => {
  const out = (await s.run(feeds))[name]!;
  expect(out.type).toBe('float32');
  return out.data as Float32Array;
});

/** Feeds of the tiny UNet (batch 2, a member of two left out: the −1e4 attention bias) or VAE decoder (2 latents). */
function tinyFeeds(graph: 'unet' | 'vae_decoder', model: Uint8Array): Feeds {
  const declared = readInputDims(model);
  const feeds = unetFeeds(declared, { batch: 2, frames: 3, groups: 1, attributes: 2 }, 17);
  if (graph === 'unet') feeds.members!.data.forEach((_, i, m) => (m[i] = i % 2));
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, createFloat32Tensor(v.data, v.dims)]));
}

describe('float16 compute (half.ts), tiny model', () => {
  it.each([['unet', 152, 'out_sample'], ['vae_decoder', 72, 'sample_out']] as const)('the %s computes in float16 with float32 I/O, '
    + 'within float16 rounding of the float32 graph', async (graph, initializers, output) => {
    const original = new Uint8Array(readFileSync(path.join(MODEL, `${graph}.onnx`)));
    const { model, report } = convertToFloat16(original);
    expect(report.initializers).toBe(initializers);
    expect(report.float16Nodes).toBeGreaterThan(100);
    expect(readInputDims(model)).toEqual(readInputDims(original));
    const types = await withSession(model, (s) => Promise.resolve({
      inputs: s.inputMetadata.map((m) => (m.isTensor ? m.type : '-')), outputs: s.outputMetadata.map((m) => (m.isTensor ? m.type : '-')) }));
    expect(types.inputs).toEqual(types.inputs.map(() => 'float32'));
    expect(types.inputs.length).toBeGreaterThan(0);
    expect(types.outputs).toEqual(['float32']);
    const feeds = tinyFeeds(graph, original);
    const [a, b] = [await outputOf(original, feeds, output), await outputOf(model, feeds, output)];
    const { diff, range } = maxDiff(b, a);
    expect(range).toBeGreaterThan(0.5);
    expect(diff).toBeGreaterThan(0); // it computes in float16, not as before
    expect(diff).toBeLessThan(TOLERANCE * range);
  }, TIMEOUT_MS);

  it('keeps Resize in float32 between casts, its scales a float32 constant', () => {
    const { model, report } = convertToFloat16(new Uint8Array(readFileSync(path.join(MODEL, 'vae_decoder.onnx'))));
    expect(report.float32Nodes).toEqual({ Resize: 3, Constant: 3 });
    const index = new GraphIndex(parseGraph(model)!);
    const resizes = index.graph.nodes.filter((n) => n.opType === 'Resize');
    expect(resizes).toHaveLength(3);
    const castTo = (n: NodeInfo | undefined) => (n?.opType === 'Cast' ? intAttribute(n, 'to') : undefined);
    for (const r of resizes) {
      expect(castTo(index.producer.get(r.inputs[0]!))).toBe(TENSOR_FLOAT);
      expect(index.constant(r.inputs[2]!)).toMatchObject({ dataType: TENSOR_FLOAT, float: [1, 1, 2, 2] });
      expect(index.consumers.get(r.outputs[0]!)!.map(castTo)).toEqual([TENSOR_FLOAT16]);
    }
  });

  it('gives fuse-attention every block after it, and converts the fused operator before it', async () => {
    const original = new Uint8Array(readFileSync(path.join(MODEL, 'unet.onnx')));
    const after = fuseAttention(convertToFloat16(original).model, { padHeadTo: 8 });
    expect(after.blocks).toBe(10);
    const fused = fuseAttention(original);
    const before = convertToFloat16(fused.model);
    expect(parseGraph(before.model)!.nodes.filter((n) => n.opType === 'MultiHeadAttention')).toHaveLength(10);
    const feeds = tinyFeeds('unet', original);
    const reference = await outputOf(original, feeds, 'out_sample');
    for (const model of [after.model, before.model]) {
      const { diff, range } = maxDiff(await outputOf(model, feeds, 'out_sample'), reference);
      expect(diff).toBeLessThan(TOLERANCE * range);
    }
  }, TIMEOUT_MS);
});

// A hand-written graph: its nodes, float32 inputs [1, 1, 2, 2] and outputs, initializers.
const valueInfo = (name: string, elemType = TENSOR_FLOAT, dims?: number[]) => concat([stringField(1, name),
  lenField(2, lenField(1, concat([varintField(1, elemType), ...(dims ? [lenField(2, concat(dims.map((d) => lenField(1, varintField(1, d)))))] : [])])))]);
const tensor = (dims: number[], type: number, data: { raw?: Uint8Array; floats?: number[] }, name?: string) => concat([
  ...dims.map((d) => varintField(1, d)), varintField(2, type), ...(name ? [stringField(8, name)] : []),
  ...(data.raw ? [lenField(9, data.raw)] : []),
  // float_data unpacked, one fixed32 field per value
  ...(data.floats ?? []).map((x) => { const b = new Uint8Array(5); b[0] = 4 * 8 + 5; new DataView(b.buffer).setFloat32(1, x, true); return b; })]);
const tensorAttr = (name: string, t: Uint8Array) => concat([stringField(1, name), varintField(20, 4), lenField(5, t)]);
const floatAttr = (name: string, x: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, x, true); return concat([stringField(1, name), varintField(20, 1), Uint8Array.of(2 * 8 + 5), b]); };
const int64Raw = (v: number[]) => new Uint8Array(new BigInt64Array(v.map(BigInt)).buffer);
const float32Raw = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);

function handModel(nodes: Uint8Array[], outputs: string[], extra: { initializers?: Uint8Array[]; valueInfo?: Uint8Array[] } = {}): Uint8Array {
  const graph = concat([...nodes.map((n) => lenField(1, n)), stringField(2, 'hand'), ...(extra.initializers ?? []).map((t) => lenField(5, t)),
    lenField(11, valueInfo('x', TENSOR_FLOAT, [1, 1, 2, 2])), ...outputs.map((o) => lenField(12, valueInfo(o))),
    ...(extra.valueInfo ?? []).map((v) => lenField(13, v))]);
  return concat([varintField(1, 8), lenField(7, graph), lenField(8, concat([stringField(1, ''), varintField(2, 18)]))]);
}

describe('float16 compute (half.ts), hand-written graphs', () => {
  const X = Float32Array.of(1, -2, 3, 0.5); // exact in float16
  const feeds = () => ({ x: createFloat32Tensor(X, [1, 1, 2, 2]) });

  it('computes a value Resize needs as exact float32 in float32, and keeps graph outputs float32 under their names', async () => {
    const model = handModel([
      // scales = Cast(int64 [1, 1, 2, 2]) · 1: both in float32, as Resize reads them
      encodeNode('Constant', [], ['scales_int'], 'scales_int', [tensorAttr('value', tensor([4], 7, { raw: int64Raw([1, 1, 2, 2]) }))]),
      encodeNode('Cast', ['scales_int'], ['scales_float'], 'cast', [intAttr('to', TENSOR_FLOAT)]),
      encodeNode('Mul', ['scales_float', 'one'], ['scales'], 'mul_scales'),
      encodeNode('Add', ['x', 'x'], ['doubled'], 'add'),
      encodeNode('Mul', ['doubled', 'doubled'], ['squared'], 'square'),
      encodeNode('Resize', ['squared', '', 'scales'], ['big'], 'resize', [concat([stringField(1, 'mode'), varintField(20, 3), stringField(4, 'nearest')])]),
      // zeros of x's shape: a ConstantOfShape without a value (float32 zeros)
      encodeNode('Shape', ['x'], ['x_shape'], 'shape'),
      encodeNode('ConstantOfShape', ['x_shape'], ['zeros'], 'zeros'),
      encodeNode('Add', ['doubled', 'zeros'], ['same'], 'add_zeros'),
    ], ['doubled', 'big', 'same'], { initializers: [tensor([], TENSOR_FLOAT, { raw: float32Raw([1]) }, 'one')],
      valueInfo: [valueInfo('squared', TENSOR_FLOAT, [1, 1, 2, 2])] });
    const { model: half, report } = convertToFloat16(model);
    expect(report.float32Nodes).toEqual({ Cast: 1, Mul: 1, Resize: 1 });
    expect(report.float16Nodes).toBe(4); // add, square, zeros, add_zeros
    const index = new GraphIndex(parseGraph(half)!);
    expect(index.constant('one')?.dataType).toBe(TENSOR_FLOAT);
    const run = async (m: Uint8Array) => withSession(m, async (s) => {
      const out = await s.run(feeds());
      return Object.fromEntries(['doubled', 'big', 'same'].map((k) => [k, { type: out[k]!.type, dims: [...out[k]!.dims], data: [...(out[k]!.data as Float32Array)] }]));
    });
    expect(await run(half)).toEqual(await run(model));
  });

  it('rounds float32 constants to the nearest float16, ties to even; saturates as ONNX Runtime\'s converter does', () => {
    const values = [1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 1e5, -1e5, 1e-9, -1e-9, 0, Infinity];
    const expected = [1, 1, 1 + 2 ** -9, 65504, 65504, -65504, 2 ** -24, -(2 ** -24), 0, Infinity];
    const model = handModel([
      encodeNode('Constant', [], ['c'], 'c', [tensorAttr('value', tensor([values.length], TENSOR_FLOAT, { floats: values }))]),
      encodeNode('Mul', ['x', 'w'], ['y'], 'mul'),
      encodeNode('Shape', ['c'], ['c_shape'], 'shape'),
    ], ['y', 'c_shape'], { initializers: [tensor([values.length], TENSOR_FLOAT, { raw: float32Raw(values) }, 'w')] });
    const index = new GraphIndex(parseGraph(convertToFloat16(model).model)!);
    for (const name of ['c', 'w']) {
      expect(index.constant(name)).toMatchObject({ dataType: TENSOR_FLOAT16, float: expected });
    }
  });

  const ifNode = () => {
    const branch = concat([lenField(1, encodeNode('Identity', ['x'], ['b'], 'b')), stringField(2, 'branch'), lenField(12, valueInfo('b'))]);
    const graphAttr = (name: string) => concat([stringField(1, name), varintField(20, 5), lenField(6, branch)]);
    return encodeNode('If', ['cond'], ['y'], 'if', [graphAttr('then_branch'), graphAttr('else_branch')]);
  };
  it.each([
    ['an operator it does not know', [encodeNode('Celu', ['x'], ['y'], 'celu')], /node "celu" \(Celu\): an operator the conversion does not know/],
    ['an operator of another domain', [encodeNode('Gelu', ['x'], ['y'], 'gelu', [], 'com.microsoft')], /node "gelu" \(com\.microsoft\.Gelu\): an operator/],
    ['a subgraph', [encodeNode('Constant', [], ['cond'], 'cond', [tensorAttr('value', tensor([], 9, { raw: Uint8Array.of(1) }))]), ifNode()],
      /node "if" \(If\): attribute "then_branch" holds a subgraph/],
    ['a Constant given as value_float', [encodeNode('Constant', [], ['c'], 'c', [floatAttr('value_float', 2)]), encodeNode('Mul', ['x', 'c'], ['y'], 'mul')],
      /node "c" \(Constant\): attribute "value_float"/],
    ['a value used before it is made', [encodeNode('Mul', ['x', 'later'], ['y'], 'mul'), encodeNode('Identity', ['x'], ['later'], 'later')],
      /node "mul" \(Mul\): input "later" is used before it is produced/],
  ] as const)('refuses %s, naming it', (_, nodes, message) => {
    const model = handModel([...nodes], ['y']);
    expect(() => convertToFloat16(model)).toThrow(ModelFileError);
    expect(() => convertToFloat16(model)).toThrow(message);
  });

  it('refuses a value_info that is not a tensor type, and initializers with external data', () => {
    const sequence = concat([stringField(1, 's'), lenField(2, lenField(4, lenField(1, lenField(1, varintField(1, TENSOR_FLOAT)))))]);
    expect(() => convertToFloat16(handModel([encodeNode('Identity', ['x'], ['y'], 'id')], ['y'], { valueInfo: [sequence] })))
      .toThrow(/value_info "s" is not a tensor type/);
    const external = concat([tensor([4], TENSOR_FLOAT, {}, 'w'), lenField(13, concat([stringField(1, 'location'), stringField(2, 'w.bin')])), varintField(14, 1)]);
    expect(() => convertToFloat16(handModel([encodeNode('Mul', ['x', 'w'], ['y'], 'mul')], ['y'], { initializers: [external] })))
      .toThrow(/tensor "w": external data is not converted/);
  });
});
