/**
 * safetensors reading: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}`, then the data.
 * Tensors are read one at a time straight from the file into their fp32 destination (F32 is
 * read in place, F16/BF16 through a scratch buffer), so a file is never held twice in memory.
 */
import { closeSync, fstatSync, openSync, read, readSync, statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { promisify } from "node:util";
import path from "node:path";
import { SafetensorsError } from "../errors";

export type Dtype = "F32" | "F16" | "BF16";
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const readAt = promisify(read);
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** absolute byte offsets in the file */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads and validates the header only. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const name = path.basename(file);
  let fh: FileHandle;
  try {
    fh = await open(file, "r");
  } catch (err) {
    throw new SafetensorsError(name, `cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const size = (await fh.stat()).size;
    const lenBuf = Buffer.alloc(Math.min(8, size));
    await readExactly(fh, lenBuf, 0, name);
    const headerLen = headerLength(lenBuf, size, name);
    const headerBuf = Buffer.alloc(headerLen);
    await readExactly(fh, headerBuf, 8, name);
    return parseHeader(file, headerBuf, size);
  } finally {
    await fh.close();
  }
}

/** openSync, with a SafetensorsError naming the file when it cannot be opened */
function openOrThrow(file: string, name: string): number {
  try {
    return openSync(file, "r");
  } catch (err) {
    throw new SafetensorsError(name, `cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/**
 * Reads and validates the header only, synchronously: for adapter loads, where a few kilobytes
 * read at once cost less than the engine steps each await of the async version would wait for.
 */
export function readSafetensorsHeaderSync(file: string): SafetensorsHeader {
  const name = path.basename(file);
  const fd = openOrThrow(file, name);
  try {
    const size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(Math.min(8, size));
    readExactlySync(fd, lenBuf, 0, name);
    const headerBuf = Buffer.alloc(headerLength(lenBuf, size, name));
    readExactlySync(fd, headerBuf, 8, name);
    return parseHeader(file, headerBuf, size);
  } finally {
    closeSync(fd);
  }
}

function readExactlySync(fd: number, buf: Uint8Array, position: number, name: string): void {
  for (let done = 0; done < buf.byteLength; ) {
    const n = readSync(fd, buf, done, buf.byteLength - done, position + done);
    if (n === 0) throw new SafetensorsError(name, `unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/** Validates the JSON header (`headerBuf`, the bytes after the 8-byte length) of a `size`-byte file. */
function parseHeader(file: string, headerBuf: Uint8Array, size: number): SafetensorsHeader {
  const name = path.basename(file);
  const headerLen = headerBuf.byteLength;
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(headerBuf.buffer, headerBuf.byteOffset, headerBuf.byteLength).toString("utf8"));
    } catch {
      throw new SafetensorsError(name, "header is not valid JSON");
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new SafetensorsError(name, "header is not a JSON object");
    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [key, raw] of Object.entries(json as Record<string, unknown>)) {
      if (key === "__metadata__") {
        metadata = (raw ?? {}) as Record<string, string>;
        continue;
      }
      const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof t !== "object" || t === null) throw new SafetensorsError(name, `tensor "${key}": entry is not an object`);
      if (typeof t.dtype !== "string" || !(t.dtype in DTYPE_BYTES)) throw new SafetensorsError(name, `tensor "${key}": unknown dtype ${JSON.stringify(t.dtype)}`);
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new SafetensorsError(name, `tensor "${key}": shape must be a list of non-negative integers`);
      }
      const offs = t.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[0] > offs[1]) {
        throw new SafetensorsError(name, `tensor "${key}": data_offsets must be [begin, end] with begin <= end`);
      }
      if (offs[1] > dataLen) {
        throw new SafetensorsError(name, `tensor "${key}": data ends at byte ${offs[1]} but the file has ${dataLen} data bytes (truncated?)`);
      }
      const shape = t.shape as number[];
      const expected = numel(shape) * DTYPE_BYTES[t.dtype];
      if (offs[1] - offs[0] !== expected) {
        throw new SafetensorsError(name, `tensor "${key}": ${offs[1] - offs[0]} bytes stored for shape [${shape}] of ${t.dtype} (${expected} expected)`);
      }
      tensors.set(key, { name: key, dtype: t.dtype, shape, begin: dataStart + offs[0], end: dataStart + offs[1] });
    }
    // tensors must not share bytes (a crafted header could alias one weight onto another)
    const spans = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i].begin < spans[i - 1].end) {
        throw new SafetensorsError(name, `tensors "${spans[i - 1].name}" and "${spans[i].name}" overlap in the data section`);
      }
    }
    return { file, tensors, metadata };
}

function headerLength(lenBytes: Uint8Array, size: number, name: string): number {
  if (size < 8) throw new SafetensorsError(name, `file is ${size} bytes, too short for a safetensors header`);
  const headerLen = Number(Buffer.from(lenBytes.buffer, lenBytes.byteOffset, 8).readBigUInt64LE(0));
  if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
    throw new SafetensorsError(name, `header length ${headerLen} is invalid for a ${size}-byte file (truncated or not safetensors)`);
  }
  return headerLen;
}

/**
 * Reads a whole (small) safetensors file with ONE read and parses it: for adapters, so that a
 * load waits for the busy engine loop once, not once per tensor.
 */
export async function readSafetensorsFile(file: string): Promise<{ header: SafetensorsHeader; bytes: Uint8Array }> {
  const name = path.basename(file);
  const fd = openOrThrow(file, name);
  try {
    const size = fstatSync(fd).size;
    const bytes = new Uint8Array(size);
    for (let done = 0; done < size; ) {
      const { bytesRead: n } = await readAt(fd, bytes, done, size - done, done);
      if (n === 0) throw new SafetensorsError(name, `unexpected end of file at byte ${done}`);
      done += n;
    }
    const headerLen = headerLength(bytes, size, name);
    return { header: parseHeader(file, bytes.subarray(8, 8 + headerLen), size), bytes };
  } finally {
    closeSync(fd);
  }
}

/** One tensor of an in-memory file (from readSafetensorsFile) as fp32. */
export function tensorFloat32(bytes: Uint8Array, header: SafetensorsHeader, tensorName: string): Float32Array {
  const info = header.tensors.get(tensorName);
  const file = path.basename(header.file);
  if (!info) throw new SafetensorsError(file, `tensor "${tensorName}" is missing`);
  const n = numel(info.shape);
  const out = new Float32Array(n);
  if (info.dtype === "F32") {
    new Uint8Array(out.buffer).set(bytes.subarray(info.begin, info.end));
  } else if (info.dtype === "F16" || info.dtype === "BF16") {
    const src = new Uint16Array(n);
    new Uint8Array(src.buffer).set(bytes.subarray(info.begin, info.end));
    halfToFloat32(src, info.dtype, out);
  } else {
    throw new SafetensorsError(file, `tensor "${tensorName}": dtype ${info.dtype} is not supported (F32, F16, BF16 are)`);
  }
  return out;
}

async function readExactly(fh: FileHandle, buf: Uint8Array, position: number, name: string): Promise<void> {
  let done = 0;
  while (done < buf.byteLength) {
    const { bytesRead } = await fh.read(buf, done, buf.byteLength - done, position + done);
    if (bytesRead === 0) throw new SafetensorsError(name, `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

// f16 -> f32 through a 65536-entry table, built on first use
let f16Table: Float32Array | null = null;
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

/** Converts 16-bit floats to fp32: bf16 is the top half of an fp32, f16 goes through the table. */
export function halfToFloat32(src: Uint16Array, dtype: "F16" | "BF16", out: Float32Array): void {
  if (dtype === "BF16") {
    const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < src.length; i++) o[i] = src[i] << 16;
  } else {
    const table = halfTable();
    for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  }
}

/** An open safetensors file that tensors are read from one by one, converted to fp32. */
export class SafetensorsReader {
  private scratch = new Uint16Array(0);

  private constructor(readonly header: SafetensorsHeader, private readonly fh: FileHandle) {}

  static async open(file: string): Promise<SafetensorsReader> {
    const header = await readSafetensorsHeader(file);
    return new SafetensorsReader(header, await open(file, "r"));
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  /** Reads tensor `name` as fp32. */
  async readFloat32(name: string): Promise<{ data: Float32Array; shape: number[] }> {
    const info = this.header.tensors.get(name);
    const file = path.basename(this.header.file);
    if (!info) throw new SafetensorsError(file, `tensor "${name}" is missing`);
    const n = numel(info.shape);
    const out = new Float32Array(n);
    if (info.dtype === "F32") {
      await readExactly(this.fh, new Uint8Array(out.buffer), info.begin, file);
    } else if (info.dtype === "F16" || info.dtype === "BF16") {
      if (this.scratch.length < n) this.scratch = new Uint16Array(n);
      const src = this.scratch.subarray(0, n);
      await readExactly(this.fh, new Uint8Array(src.buffer, 0, n * 2), info.begin, file);
      halfToFloat32(src, info.dtype, out);
    } else {
      throw new SafetensorsError(file, `tensor "${name}": dtype ${info.dtype} is not supported (F32, F16, BF16 are)`);
    }
    return { data: out, shape: info.shape };
  }

  async close(): Promise<void> {
    this.scratch = new Uint16Array(0);
    await this.fh.close();
  }
}

/** A stored tensor's raw values: F32 as Float32Array, F16/BF16 as bit patterns, I8/U8 as bytes. */
export type RawTensor =
  | { dtype: "F32"; shape: number[]; data: Float32Array }
  | { dtype: "F16" | "BF16"; shape: number[]; data: Uint16Array }
  | { dtype: "I8"; shape: number[]; data: Int8Array }
  | { dtype: "U8"; shape: number[]; data: Uint8Array };

const RAW_CTORS = { F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I8: Int8Array, U8: Uint8Array } as const;

function rawOf(info: TensorInfo, file: string, bytes: (ctor: (typeof RAW_CTORS)[keyof typeof RAW_CTORS], n: number) => RawTensor["data"] | null): RawTensor | null {
  const ctor = RAW_CTORS[info.dtype as keyof typeof RAW_CTORS];
  if (!ctor) throw new SafetensorsError(file, `tensor "${info.name}": dtype ${info.dtype} is not supported (F32, F16, BF16, I8, U8 are)`);
  const data = bytes(ctor, numel(info.shape));
  return data ? ({ dtype: info.dtype, shape: info.shape, data } as RawTensor) : null;
}

/**
 * A safetensors file memory-mapped a tensor at a time (`mmapFile`: the addon's private
 * copy-on-write mapping of a window of the file): tensors are typed-array views of their window,
 * no copy, paged in from the page cache on first use. Windows, not the whole file, because Node 20
 * caps an external buffer at 4 GiB and a 7B model's shards (and its q8 cache) are bigger. A
 * window lives as long as any view of it.
 */
/** buffers handed out by a mapping (so a test can tell a view of the file from a copy) */
const mappedBuffers = new WeakSet<ArrayBufferLike>();

/** `buffer` is a window of a memory-mapped file (MappedSafetensors), not a heap copy. */
export function isMappedBuffer(buffer: ArrayBufferLike): boolean {
  return mappedBuffers.has(buffer);
}

export class MappedSafetensors {
  private readonly windows = new Map<string, ArrayBuffer>();

  private constructor(
    readonly header: SafetensorsHeader,
    private readonly size: number,
    private readonly mmapFile: (file: string, offset: number, length: number) => ArrayBuffer,
  ) {}

  static open(file: string, mmapFile: (file: string, offset: number, length: number) => ArrayBuffer): MappedSafetensors {
    const header = readSafetensorsHeaderSync(file);
    return new MappedSafetensors(header, statSync(file).size, mmapFile);
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  /** tensor `name`'s bytes, mapped (once) */
  private window(name: string): { info: TensorInfo; bytes: ArrayBuffer } {
    const file = path.basename(this.header.file);
    const info = this.header.tensors.get(name);
    if (!info) throw new SafetensorsError(file, `tensor "${name}" is missing`);
    if (info.end > this.size) throw new SafetensorsError(file, `tensor "${name}": the file changed while mapped`);
    let bytes = this.windows.get(name);
    if (!bytes) {
      try {
        bytes = this.mmapFile(this.header.file, info.begin, info.end - info.begin);
      } catch (err) {
        throw new SafetensorsError(file, `tensor "${name}": ${(err as Error).message}`);
      }
      this.windows.set(name, bytes);
      mappedBuffers.add(bytes);
    }
    return { info, bytes };
  }

  /** Tensor `name` as a view of the mapping, or null when its offset is not aligned for its type. */
  view(name: string): RawTensor | null {
    const file = path.basename(this.header.file);
    const { info, bytes } = this.window(name);
    // the window starts at info.begin: its address is as aligned as that file offset
    return rawOf(info, file, (ctor, n) => (info.begin % ctor.BYTES_PER_ELEMENT ? null : new ctor(bytes, 0, n)));
  }

  /** Tensor `name` copied out of the mapping (for a misaligned one). */
  copy(name: string): RawTensor {
    const file = path.basename(this.header.file);
    const { info, bytes } = this.window(name);
    return rawOf(info, file, (ctor, n) => {
      const out = new ctor(n);
      new Uint8Array(out.buffer).set(new Uint8Array(bytes));
      return out;
    })!;
  }
}

/** Reads tensor `name` of an open reader's file as its raw stored values (one fresh array). */
export async function readRawTensor(reader: SafetensorsReader, name: string): Promise<RawTensor> {
  const file = path.basename(reader.header.file);
  const info = reader.header.tensors.get(name);
  if (!info) throw new SafetensorsError(file, `tensor "${name}" is missing`);
  const fh = await open(reader.header.file, "r");
  try {
    let pending: Promise<void> = Promise.resolve();
    const raw = rawOf(info, file, (ctor, n) => {
      const out = new ctor(n);
      pending = readExactly(fh, new Uint8Array(out.buffer), info.begin, file);
      return out;
    })!;
    await pending;
    return raw;
  } finally {
    await fh.close();
  }
}
