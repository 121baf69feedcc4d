/**
 * The few protobuf wire-format helpers that reading and rewriting ONNX model bytes needs
 * (fix-dims.ts, chunk-attention.ts). Only what onnx.proto3 uses: varints, 32/64-bit fixed and
 * length-delimited fields; fields are copied byte for byte unless rewritten.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export interface Field {
  num: number;
  wire: number;
  /** The whole field, tag included. */
  start: number;
  end: number;
  /** The payload of a length-delimited field; the value of a varint. */
  payloadStart: number;
  value: number;
}

export function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
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

/** A non-negative integer as a varint; a negative one as protobuf's 10-byte two's complement (int64). */
export function writeVarint(value: number): Uint8Array {
  if (value < 0) {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    for (let i = 0; i < 10; i++) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      out.push(v > 0n ? b | 0x80 : b);
      if (v === 0n) break;
    }
    return Uint8Array.from(out);
  }
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

/** The varint at `pos` as a signed int64 (protobuf's two's complement for negative values), exactly. */
export function readInt64(buf: Uint8Array, pos: number): number {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (!(b & 0x80)) return Number(BigInt.asIntN(64, value));
  }
  throw new Error('varint longer than 10 bytes');
}

export function parseFields(buf: Uint8Array): Field[] {
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

export function lenField(num: number, payload: Uint8Array): Uint8Array {
  return concat([writeVarint(num * 8 + WIRE_LEN), writeVarint(payload.length), payload]);
}

export function varintField(num: number, value: number): Uint8Array {
  return concat([writeVarint(num * 8 + WIRE_VARINT), writeVarint(value)]);
}

const encoder = new TextEncoder();
export const decoder = new TextDecoder();

export function stringField(num: number, text: string): Uint8Array {
  return lenField(num, encoder.encode(text));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `buf` with each length-delimited field `num` replaced by `edit(payload)` (null: unchanged). */
export function editFields(buf: Uint8Array, num: number, edit: (payload: Uint8Array) => Uint8Array | null): Uint8Array {
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

/** The payloads of every length-delimited field `num`. */
export function subFields(buf: Uint8Array, num: number): Uint8Array[] {
  return parseFields(buf).filter((f) => f.num === num && f.wire === WIRE_LEN).map((f) => buf.subarray(f.payloadStart, f.end));
}

/** The strings of every length-delimited field `num`. */
export function stringFields(buf: Uint8Array, num: number): string[] {
  return subFields(buf, num).map((b) => decoder.decode(b));
}
