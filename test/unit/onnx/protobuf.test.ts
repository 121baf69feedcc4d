import { parseFields, readInt64, readVarint, varintField, writeVarint } from '../../../src/onnx/protobuf';

describe('protobuf varints', () => {
  it('writes and reads back non-negative values, and int64 values below zero as ten bytes', () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 40 + 5]) {
      expect(readVarint(writeVarint(v), 0)[0]).toBe(v);
      expect(readInt64(writeVarint(v), 0)).toBe(v);
    }
    for (const v of [-1, -2, -300, -(2 ** 40)]) {
      const bytes = writeVarint(v);
      expect(bytes).toHaveLength(10);
      expect(readInt64(bytes, 0)).toBe(v);
    }
  });

  it('parses a varint field where its value starts', () => {
    const [f] = parseFields(varintField(3, -1));
    expect(f).toMatchObject({ num: 3, wire: 0 });
    expect(readInt64(varintField(3, -1), f!.payloadStart)).toBe(-1);
  });
});
