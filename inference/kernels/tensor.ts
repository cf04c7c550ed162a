/**
 * The tensor and weight-format contract shared by every backend (CPU reference, native C++,
 * WebGPU) and the loader.
 *
 * Activations, the KV cache, norm weights, RoPE frequencies and LoRA A/B are always f32.
 * A weight matrix W (Hugging Face nn.Linear: rows = out features n, cols = in features k,
 * y = x · Wᵀ) and the embedding table (rows = vocab, cols = hidden) may be stored in any
 * `WeightFormat`; kernels dequantize to f32 in registers and accumulate in f32 — except the native
 * q8/q4 matmuls by default, which quantize x to int8 per group of 32 (./int8-act.ts;
 * LORA_KERNELS_QACT=f32 keeps x in f32).
 *
 * A `HostWeight` is a weight in host memory as the loader produces it (possibly a view of a
 * memory-mapped file) and as CPU backends consume it. GPU backends upload it once
 * (`Backend.uploadWeight`) into the same layout in a device buffer.
 */
import { bf16ToF32 } from "./bf16";
import { f16ToF32 } from "./f16";

export const WEIGHT_FORMATS = ["f32", "f16", "bf16", "q8", "q4"] as const;
export type WeightFormat = (typeof WEIGHT_FORMATS)[number];

/** Weights per quantization group (q8, q4), llama.cpp's QK8_0 / QK4_0. */
export const QGROUP = 32;

/** Quantization groups per row of `cols` weights; the last one is partial when cols % 32 != 0. */
export function groupsPerRow(cols: number): number {
  return Math.ceil(cols / QGROUP);
}

/**
 * Layouts (row-major, G = groupsPerRow(cols)):
 * - f32:  data (rows, cols) fp32.
 * - f16:  data (rows, cols) IEEE half bit patterns.
 * - bf16: data (rows, cols) bfloat16 bit patterns (the high 16 bits of an fp32).
 * - q8:   qs (rows, G*32) int8; scales (rows, G) f16 bits.
 *         w[j,p] = f16(scales[j*G + ⌊p/32⌋]) * qs[j*G*32 + p]
 * - q4:   qs (rows, G*16) bytes; scales (rows, G) f16 bits. Within group g of row j, byte
 *         b < 16 holds element 32g+b in its low nibble and element 32g+b+16 in its high nibble
 *         (llama.cpp Q4_0's order), unsigned with an offset of 8:
 *         byte = qs[(j*G + g)*16 + b]; w[j, 32g+b] = d*((byte & 15) - 8), w[j, 32g+b+16] = d*((byte >> 4) - 8),
 *         d = f16(scales[j*G + g])
 * Planar (scales apart from quants) so every row's quants are 16/32-byte aligned for SIMD and
 * readable as u32 words by a GPU. Padding elements of a partial last group are stored as 0.
 */
export type HostWeight =
  | { readonly format: "f32"; readonly rows: number; readonly cols: number; readonly data: Float32Array }
  | { readonly format: "f16" | "bf16"; readonly rows: number; readonly cols: number; readonly data: Uint16Array }
  | { readonly format: "q8"; readonly rows: number; readonly cols: number; readonly qs: Int8Array; readonly scales: Uint16Array }
  | { readonly format: "q4"; readonly rows: number; readonly cols: number; readonly qs: Uint8Array; readonly scales: Uint16Array };

/** An f32 HostWeight over `data` (rows, cols), no copy. */
export function f32Weight(data: Float32Array, rows: number, cols: number): HostWeight {
  if (data.length < rows * cols) throw new RangeError(`f32 weight (${rows}, ${cols}) needs ${rows * cols} floats, got ${data.length}`);
  return { format: "f32", rows, cols, data };
}

/** Bytes a weight of this format and shape occupies (what decode streams per step). */
export function weightBytesOf(format: WeightFormat, rows: number, cols: number): number {
  const G = groupsPerRow(cols);
  switch (format) {
    case "f32": return rows * cols * 4;
    case "f16":
    case "bf16": return rows * cols * 2;
    case "q8": return rows * G * (QGROUP + 2);
    case "q4": return rows * G * (QGROUP / 2 + 2);
  }
}

export function weightBytes(w: HostWeight): number {
  return weightBytesOf(w.format, w.rows, w.cols);
}

/**
 * Row j of w as f32 into out[0, cols) — the definition every format's kernels must equal
 * (the reference backend's matmul and embed are written with it).
 */
export function dequantRow(w: HostWeight, j: number, out: Float32Array): void {
  const k = w.cols;
  switch (w.format) {
    case "f32":
      out.set(w.data.subarray(j * k, j * k + k));
      return;
    case "f16":
      for (let p = 0; p < k; p++) out[p] = f16ToF32(w.data[j * k + p]);
      return;
    case "bf16":
      for (let p = 0; p < k; p++) out[p] = bf16ToF32(w.data[j * k + p]);
      return;
    case "q8": {
      const G = groupsPerRow(k);
      for (let p = 0; p < k; p++) out[p] = f16ToF32(w.scales[j * G + (p >> 5)]) * w.qs[j * G * QGROUP + p];
      return;
    }
    case "q4": {
      const G = groupsPerRow(k);
      for (let p = 0; p < k; p++) {
        const g = p >> 5;
        const e = p & 31;
        const byte = w.qs[(j * G + g) * 16 + (e & 15)];
        const q = e < 16 ? byte & 15 : byte >> 4;
        out[p] = f16ToF32(w.scales[j * G + g]) * (q - 8);
      }
      return;
    }
  }
}

/** Checks that a HostWeight's arrays hold its declared shape; throws naming `what`. */
export function checkWeight(what: string, w: HostWeight, rows?: number, cols?: number): void {
  if (!w || typeof w !== "object" || !(WEIGHT_FORMATS as readonly string[]).includes((w as HostWeight).format)) {
    throw new TypeError(`${what}: not a weight (format must be one of ${WEIGHT_FORMATS.join(", ")})`);
  }
  if (rows !== undefined && w.rows !== rows) throw new RangeError(`${what}: has ${w.rows} rows, needs ${rows}`);
  if (cols !== undefined && w.cols !== cols) throw new RangeError(`${what}: has ${w.cols} columns, needs ${cols}`);
  const G = groupsPerRow(w.cols);
  type Ctor = Float32ArrayConstructor | Uint16ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor;
  const need = (arr: unknown, ctor: Ctor, n: number, name: string) => {
    if (!(arr instanceof ctor)) throw new TypeError(`${what}: ${w.format} ${name} must be a ${ctor.name}`);
    if (arr.length < n) throw new RangeError(`${what}: ${w.format} ${name} has ${arr.length} elements, needs ${n}`);
  };
  if (!Number.isInteger(w.rows) || w.rows <= 0 || !Number.isInteger(w.cols) || w.cols <= 0) {
    throw new RangeError(`${what}: shape (${w.rows}, ${w.cols}) must be positive integers`);
  }
  switch (w.format) {
    case "f32": need(w.data, Float32Array, w.rows * w.cols, "data"); break;
    case "f16":
    case "bf16": need(w.data, Uint16Array, w.rows * w.cols, "data"); break;
    case "q8": need(w.qs, Int8Array, w.rows * G * QGROUP, "qs"); need(w.scales, Uint16Array, w.rows * G, "scales"); break;
    case "q4": need(w.qs, Uint8Array, w.rows * G * 16, "qs"); need(w.scales, Uint16Array, w.rows * G, "scales"); break;
  }
}
