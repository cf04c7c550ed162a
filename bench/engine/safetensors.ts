/**
 * A small safetensors writer and reader for the benchmark's synthetic model (F32 only on the
 * write side). Format: u64 little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}} padded with spaces to 8 bytes, then the data.
 * The engine has its own loader; this one exists so the bench does not depend on it to export GGUF.
 */
import fs from "node:fs";

export interface TensorEntry {
  name: string;
  shape: number[];
  /** row-major fp32 data */
  data: Float32Array;
}

/** Writes tensors in the given order (each one's bytes are streamed, never concatenated). */
export function writeSafetensors(file: string, tensors: TensorEntry[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`${t.name}: shape ${t.shape} does not match ${t.data.length} values`);
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  const fd = fs.openSync(file, "w");
  try {
    fs.writeSync(fd, len);
    fs.writeSync(fd, headerBytes);
    for (const t of tensors) fs.writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } finally {
    fs.closeSync(fd);
  }
}

export interface SafetensorsInfo {
  dtype: string;
  shape: number[];
  /** absolute byte range in the file */
  begin: number;
  end: number;
}

/** Reads the header only. */
export function readSafetensorsHeader(file: string): Map<string, SafetensorsInfo> {
  const fd = fs.openSync(file, "r");
  try {
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE());
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, 8);
    const header = JSON.parse(buf.toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    const out = new Map<string, SafetensorsInfo>();
    for (const [name, v] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      out.set(name, { dtype: v.dtype, shape: v.shape, begin: 8 + n + v.data_offsets[0], end: 8 + n + v.data_offsets[1] });
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads one tensor as fp32 (F32, F16 and BF16 stored). */
export function readSafetensorsTensor(file: string, info: SafetensorsInfo): Float32Array {
  const bytes = Buffer.alloc(info.end - info.begin);
  const fd = fs.openSync(file, "r");
  try {
    fs.readSync(fd, bytes, 0, bytes.length, info.begin);
  } finally {
    fs.closeSync(fd);
  }
  if (info.dtype === "F32") return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4).slice();
  const n = bytes.length / 2;
  const out = new Float32Array(n);
  const u32 = new Uint32Array(out.buffer);
  if (info.dtype === "BF16") {
    for (let i = 0; i < n; i++) u32[i] = bytes.readUInt16LE(2 * i) << 16;
    return out;
  }
  if (info.dtype === "F16") {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(bytes.readUInt16LE(2 * i));
    return out;
  }
  throw new Error(`unsupported safetensors dtype ${info.dtype}`);
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
