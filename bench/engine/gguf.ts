/**
 * GGUF v3 writer and reader (the llama.cpp file format), enough for models (F32, F16, BF16, Q8_0,
 * Q4_0) and fp32 LoRA adapters.
 *
 * Layout (all little-endian): "GGUF" magic, u32 version = 3, u64 tensor count, u64 KV count;
 * KVs: string key, u32 value type, value; tensor infos: string name, u32 n_dims, u64 ne[n_dims]
 * (ne[0] is the fastest-varying dimension, so an HF (out, in) matrix has ne = [in, out]),
 * u32 ggml type, u64 offset into the data section; then padding to `general.alignment` (32)
 * and the data section, each tensor at an aligned offset. Strings are u64 length + UTF-8 bytes.
 */
import fs from "node:fs";

export enum GgufType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8,
  ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** ggml tensor types used here */
export const GGML_TYPE_F32 = 0;
export const GGML_TYPE_F16 = 1;
export const GGML_TYPE_Q4_0 = 2;
export const GGML_TYPE_Q8_0 = 8;
export const GGML_TYPE_BF16 = 30;

/** Bytes of `n` elements of a ggml type (the quantized ones in blocks of 32: f16 scale + quants). */
export function ggmlBytes(type: number, n: number): number {
  switch (type) {
    case GGML_TYPE_F32: return n * 4;
    case GGML_TYPE_F16: case GGML_TYPE_BF16: return n * 2;
    case GGML_TYPE_Q8_0: return (n / 32) * 34;
    case GGML_TYPE_Q4_0: return (n / 32) * 18;
    default: throw new Error(`gguf: no size for ggml type ${type}`);
  }
}

export type GgufValue =
  | { type: GgufType.STRING; value: string }
  | { type: GgufType.UINT32 | GgufType.INT32 | GgufType.FLOAT32 | GgufType.BOOL | GgufType.UINT64; value: number | boolean }
  | { type: GgufType.ARRAY; itemType: GgufType.STRING; value: string[] }
  | { type: GgufType.ARRAY; itemType: GgufType.FLOAT32 | GgufType.INT32; value: ArrayLike<number> };

export const str = (value: string): GgufValue => ({ type: GgufType.STRING, value });
export const u32 = (value: number): GgufValue => ({ type: GgufType.UINT32, value });
export const f32 = (value: number): GgufValue => ({ type: GgufType.FLOAT32, value });
export const bool = (value: boolean): GgufValue => ({ type: GgufType.BOOL, value });
export const strArr = (value: string[]): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.STRING, value });
export const f32Arr = (value: ArrayLike<number>): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.FLOAT32, value });
export const i32Arr = (value: ArrayLike<number>): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.INT32, value });

export interface GgufTensor {
  name: string;
  /** GGML order: ne[0] fastest (reverse of the row-major shape) */
  ne: number[];
  /** ggml type (default F32) */
  type?: number;
  /** the tensor's bytes in its type (fp32 values for F32), produced when the data section is written (so big tensors are not all held at once) */
  data: () => Float32Array | Uint16Array | Uint8Array;
}

const ALIGNMENT = 32;

/** Growable little-endian byte sink for the header. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void { this.ensure(4); this.buf.writeUInt32LE(v >>> 0, this.length); this.length += 4; }
  i32(v: number): void { this.ensure(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  u64(v: number): void { this.ensure(8); this.buf.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  f32(v: number): void { this.ensure(4); this.buf.writeFloatLE(v, this.length); this.length += 4; }
  u8(v: number): void { this.ensure(1); this.buf.writeUInt8(v, this.length); this.length += 1; }
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }
  pad(to: number): void { const n = (to - (this.length % to)) % to; this.ensure(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
  bytes(): Buffer { return this.buf.subarray(0, this.length); }
}

function writeValue(s: ByteSink, v: GgufValue): void {
  s.u32(v.type);
  switch (v.type) {
    case GgufType.STRING: s.str(v.value); break;
    case GgufType.UINT32: s.u32(Number(v.value)); break;
    case GgufType.INT32: s.i32(Number(v.value)); break;
    case GgufType.FLOAT32: s.f32(Number(v.value)); break;
    case GgufType.BOOL: s.u8(v.value ? 1 : 0); break;
    case GgufType.UINT64: s.u64(Number(v.value)); break;
    case GgufType.ARRAY: {
      s.u32(v.itemType);
      s.u64(v.value.length);
      if (v.itemType === GgufType.STRING) for (const x of v.value as string[]) s.str(x);
      else if (v.itemType === GgufType.FLOAT32) for (let i = 0; i < v.value.length; i++) s.f32((v.value as ArrayLike<number>)[i]);
      else for (let i = 0; i < v.value.length; i++) s.i32((v.value as ArrayLike<number>)[i]);
      break;
    }
  }
}

/** Writes a GGUF v3 file (tensors F32, F16, BF16, Q8_0 or Q4_0). */
export function writeGguf(file: string, kv: [string, GgufValue][], tensors: GgufTensor[]): void {
  const s = new ByteSink();
  s.u8(0x47); s.u8(0x47); s.u8(0x55); s.u8(0x46); // "GGUF"
  s.u32(3);
  s.u64(tensors.length);
  s.u64(kv.length);
  for (const [key, value] of kv) { s.str(key); writeValue(s, value); }
  let offset = 0;
  for (const t of tensors) {
    s.str(t.name);
    s.u32(t.ne.length);
    for (const d of t.ne) s.u64(d);
    s.u32(t.type ?? GGML_TYPE_F32);
    s.u64(offset);
    offset += Math.ceil(ggmlBytes(t.type ?? GGML_TYPE_F32, t.ne.reduce((a, b) => a * b, 1)) / ALIGNMENT) * ALIGNMENT;
  }
  s.pad(ALIGNMENT);
  const fd = fs.openSync(file, "w");
  try {
    fs.writeSync(fd, s.bytes());
    const zeros = Buffer.alloc(ALIGNMENT);
    for (const t of tensors) {
      const data = t.data();
      const bytes = ggmlBytes(t.type ?? GGML_TYPE_F32, t.ne.reduce((a, b) => a * b, 1));
      if (data.byteLength !== bytes) throw new Error(`gguf: ${t.name} has ${data.byteLength} bytes, ne ${t.ne} of type ${t.type ?? GGML_TYPE_F32} needs ${bytes}`);
      const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      for (let done = 0; done < view.length; ) done += fs.writeSync(fd, view, done, view.length - done);
      const pad = (ALIGNMENT - (data.byteLength % ALIGNMENT)) % ALIGNMENT;
      if (pad) fs.writeSync(fd, zeros, 0, pad);
    }
  } finally {
    fs.closeSync(fd);
  }
}

// ---- reader (tests and sanity checks) ------------------------------------------------------

export interface GgufFile {
  version: number;
  kv: Map<string, unknown>;
  tensors: { name: string; ne: number[]; type: number; offset: number }[];
  /** absolute file offset of the data section */
  dataOffset: number;
}

export function readGguf(file: string): GgufFile {
  const buf = fs.readFileSync(file);
  let p = 0;
  const u32 = () => { const v = buf.readUInt32LE(p); p += 4; return v; };
  const u64 = () => { const v = Number(buf.readBigUInt64LE(p)); p += 8; return v; };
  const string = () => { const n = u64(); const v = buf.toString("utf8", p, p + n); p += n; return v; };
  const value = (type: number): unknown => {
    switch (type) {
      case GgufType.UINT8: return buf.readUInt8(p++);
      case GgufType.INT8: return buf.readInt8(p++);
      case GgufType.UINT16: { const v = buf.readUInt16LE(p); p += 2; return v; }
      case GgufType.INT16: { const v = buf.readInt16LE(p); p += 2; return v; }
      case GgufType.UINT32: return u32();
      case GgufType.INT32: { const v = buf.readInt32LE(p); p += 4; return v; }
      case GgufType.FLOAT32: { const v = buf.readFloatLE(p); p += 4; return v; }
      case GgufType.BOOL: return buf.readUInt8(p++) !== 0;
      case GgufType.STRING: return string();
      case GgufType.UINT64: return u64();
      case GgufType.INT64: { const v = Number(buf.readBigInt64LE(p)); p += 8; return v; }
      case GgufType.FLOAT64: { const v = buf.readDoubleLE(p); p += 8; return v; }
      case GgufType.ARRAY: {
        const itemType = u32();
        const n = u64();
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(value(itemType));
        return out;
      }
      default: throw new Error(`gguf: unknown value type ${type} at byte ${p}`);
    }
  };
  if (buf.toString("latin1", 0, 4) !== "GGUF") throw new Error(`${file}: not a GGUF file`);
  p = 4;
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const kv = new Map<string, unknown>();
  for (let i = 0; i < nKv; i++) { const k = string(); kv.set(k, value(u32())); }
  const tensors: GgufFile["tensors"] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = string();
    const nd = u32();
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(u64());
    tensors.push({ name, ne, type: u32(), offset: u64() });
  }
  const align = Number(kv.get("general.alignment") ?? ALIGNMENT);
  const dataOffset = Math.ceil(p / align) * align;
  return { version, kv, tensors, dataOffset };
}

/** One fp32 tensor's values from a file read with readGguf. */
export function readGgufTensor(file: string, g: GgufFile, name: string): Float32Array {
  const t = g.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`gguf: no tensor ${name}`);
  if (t.type !== GGML_TYPE_F32) throw new Error(`gguf: ${name} is not F32`);
  const n = t.ne.reduce((a, b) => a * b, 1);
  const bytes = Buffer.alloc(n * 4);
  const fd = fs.openSync(file, "r");
  try { fs.readSync(fd, bytes, 0, bytes.length, g.dataOffset + t.offset); } finally { fs.closeSync(fd); }
  return new Float32Array(bytes.buffer, bytes.byteOffset, n);
}
