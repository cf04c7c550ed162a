/**
 * Device memory of the WebGPU backend: tensor and weight handles, and the arenas that small
 * uploaded f32 tensors (norm weights, RoPE frequencies, LoRA A/B) are sub-allocated from, so
 * that one SGMV dispatch can reach every adapter's A and B through a single binding.
 */
import type { WeightFormat } from "../kernels/tensor";

/** GPUBufferUsage / GPUMapMode bits (fixed by the WebGPU spec; dawn.node's globals not needed) */
export const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
export const MAP_READ = 1;

/** An f32 or i32 tensor: `length` elements at byte `offset` of `buffer` (offset aligned for binding). */
export interface GpuTensor<K extends "f32" | "i32" = "f32" | "i32"> {
  readonly kind: K;
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly length: number;
  /** bytes bound for this tensor: length*4 rounded up to 4, at least 4 */
  readonly byteSize: number;
  /** the arena it was sub-allocated from, if any */
  readonly arena: Arena | null;
  /** a per-step table in a recycled buffer (bound whole: bind groups stay cacheable across steps) */
  readonly pooled: boolean;
  released: boolean;
}
export type GpuF32 = GpuTensor<"f32">;
export type GpuI32 = GpuTensor<"i32">;

/** A run of weight rows [row0, row0+rows) in its own buffers (a weight is split only when it exceeds the binding limit). */
export interface WeightPart {
  readonly row0: number;
  readonly rows: number;
  readonly data: GPUBuffer;
  /** f16 group scales of q8/q4 */
  readonly scales: GPUBuffer | null;
}

export interface GpuWeight {
  readonly kind: "weight";
  readonly format: WeightFormat;
  readonly rows: number;
  readonly cols: number;
  readonly parts: readonly WeightPart[];
  /** device bytes held */
  readonly bytes: number;
  released: boolean;
}

export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/** A buffer filled from host bytes at creation (no queue write: nothing to order against). */
export function bufferFrom(device: GPUDevice, bytes: Uint8Array, usage: number, label?: string): GPUBuffer {
  const buf = device.createBuffer({ label, size: Math.max(4, roundUp(bytes.byteLength, 4)), usage, mappedAtCreation: true });
  new Uint8Array(buf.getMappedRange()).set(bytes);
  buf.unmap();
  return buf;
}

export function bytesOf(a: ArrayBufferView, start = 0, length = a.byteLength - start): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset + start, length);
}

/** First-fit sub-allocator over one device buffer; free ranges are coalesced. */
export class Arena {
  private free: { off: number; len: number }[];
  used = 0;

  constructor(readonly buffer: GPUBuffer, readonly size: number, readonly align: number) {
    this.free = [{ off: 0, len: size }];
  }

  /** byte offset of `bytes` bytes, or -1 when no free range fits */
  alloc(bytes: number): number {
    const len = roundUp(Math.max(bytes, 4), this.align);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f.len < len) continue;
      const off = f.off;
      if (f.len === len) this.free.splice(i, 1);
      else this.free[i] = { off: f.off + len, len: f.len - len };
      this.used += len;
      return off;
    }
    return -1;
  }

  release(off: number, bytes: number): void {
    const len = roundUp(Math.max(bytes, 4), this.align);
    this.used -= len;
    let i = 0;
    while (i < this.free.length && this.free[i].off < off) i++;
    this.free.splice(i, 0, { off, len });
    // merge with the next, then with the previous neighbour
    if (i + 1 < this.free.length && off + len === this.free[i + 1].off) {
      this.free[i].len += this.free[i + 1].len;
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1].off + this.free[i - 1].len === off) {
      this.free[i - 1].len += this.free[i].len;
      this.free.splice(i, 1);
    }
  }
}
