/**
 * Weight conversion between the formats of ./tensor.ts: f32 / bf16 / f16 rows -> q8 or q4 (or
 * a cast between the float formats). Row by row with one (cols) f32 scratch row, so a loader can
 * convert a checkpoint tensor by tensor while streaming it, holding only the source tensor (often
 * a view of a memory-mapped file) and its compact result.
 *
 * q8 (llama.cpp Q8_0-like): per group of 32 weights, d = max|w| / 127 rounded to f16 first, then
 *   q = clamp(round(w / d), -127, 127): the scale the kernels use is the one we rounded with.
 * q4 (llama.cpp Q4_0-like, symmetric, no minimum): per group, m = the weight of largest |w| (with
 *   its sign), d = f16(m / -8), q = clamp(round(w / d) + 8, 0, 15), w ≈ d * (q - 8): the extreme
 *   weight maps exactly to -8 * d, the other side reaches 7 * |d|.
 * A partial last group (cols % 32 != 0) is quantized over its real weights; its padding is 0.
 *
 * Mixed precision rule: with q4 the token embeddings and the LM head stay q8 (`formatForRole`),
 * as llama.cpp's Q4_0 files keep the output head at higher precision: they are the two matrices
 * whose error goes straight into every logit, and they are only ~3% of a 7B model's bytes.
 */
import { f16ToF32, f32ToF16Bits, F16_MAX } from "./f16";
import { toBf16 } from "./bf16";
import { dequantRow, groupsPerRow, QGROUP, type HostWeight, type WeightFormat } from "./tensor";
import { loadAddon } from "./native";

/** The addon's loader helpers (inference/native/quantize.cc, addon.cc), when it is built. */
export interface LoaderAddon {
  quantize(src: Float32Array | Uint16Array, srcFormat: "f32" | "bf16" | "f16", rows: number, cols: number, qs: Int8Array | Uint8Array, scales: Uint16Array): void;
  /** bytes [offset, offset + length) of `file`, mapped copy-on-write; a window is at most 4 GiB (Node 20's buffer limit) */
  mmapFile(file: string, offset: number, length: number): ArrayBuffer;
}

/** The native loader helpers, or null without the addon (everything then runs in TypeScript). */
export function loaderAddon(): LoaderAddon | null {
  try {
    const a = loadAddon() as unknown as Partial<LoaderAddon>;
    return a.quantize && a.mmapFile ? (a as LoaderAddon) : null;
  } catch {
    return null;
  }
}

/** Where a matrix sits in the model: decides its format under a mixed-precision dtype. */
export type WeightRole = "embed" | "lmHead" | "linear";

/** The format a matrix of `role` gets when the model is loaded as `dtype` (q4 keeps embed/head q8). */
export function formatForRole(dtype: WeightFormat, role: WeightRole): WeightFormat {
  return dtype === "q4" && role !== "linear" ? "q8" : dtype;
}

function checkFinite(what: string, row: Float32Array, j: number, cols: number): void {
  for (let p = 0; p < cols; p++) {
    if (!Number.isFinite(row[p])) throw new RangeError(`${what}: non-finite weight at row ${j}, column ${p}; cannot quantize`);
  }
}

/** f16 bits of a scale, refusing one past the f16 range (the weights would be absurd). */
function scaleBits(what: string, d: number, j: number): number {
  if (Math.abs(d) > F16_MAX) throw new RangeError(`${what}: quantization scale ${d} at row ${j} exceeds the f16 range`);
  return f32ToF16Bits(d);
}

/** Quantizes rows [r0, r1) of `src` (any float format) into the q8 arrays of a (rows, cols) weight. */
function q8Rows(what: string, src: HostWeight, qs: Int8Array, scales: Uint16Array, r0: number, r1: number, row: Float32Array): void {
  const k = src.cols;
  const G = groupsPerRow(k);
  for (let j = r0; j < r1; j++) {
    dequantRow(src, j, row);
    checkFinite(what, row, j, k);
    for (let g = 0; g < G; g++) {
      const p0 = g * QGROUP;
      const p1 = Math.min(k, p0 + QGROUP);
      let amax = 0;
      for (let p = p0; p < p1; p++) amax = Math.max(amax, Math.abs(row[p]));
      const bits = scaleBits(what, amax / 127, j);
      scales[j * G + g] = bits;
      const d = f16ToF32(bits);
      const base = j * G * QGROUP;
      if (d === 0) continue; // qs stays 0 (an all-zero group, or one below f16's smallest scale)
      for (let p = p0; p < p1; p++) qs[base + p] = Math.max(-127, Math.min(127, Math.round(row[p] / d)));
    }
  }
}

/** As q8Rows for q4 (two weights per byte, Q4_0 order: element b low nibble, b+16 high). */
function q4Rows(what: string, src: HostWeight, qs: Uint8Array, scales: Uint16Array, r0: number, r1: number, row: Float32Array): void {
  const k = src.cols;
  const G = groupsPerRow(k);
  const q = new Uint8Array(QGROUP);
  for (let j = r0; j < r1; j++) {
    dequantRow(src, j, row);
    checkFinite(what, row, j, k);
    for (let g = 0; g < G; g++) {
      const p0 = g * QGROUP;
      const p1 = Math.min(k, p0 + QGROUP);
      let amax = 0;
      let m = 0;
      for (let p = p0; p < p1; p++) {
        if (Math.abs(row[p]) > amax) {
          amax = Math.abs(row[p]);
          m = row[p];
        }
      }
      const bits = scaleBits(what, m / -8, j);
      scales[j * G + g] = bits;
      const d = f16ToF32(bits);
      q.fill(8); // padding and an all-zero group decode to 0
      if (d !== 0) for (let p = p0; p < p1; p++) q[p - p0] = Math.max(0, Math.min(15, Math.round(row[p] / d) + 8));
      const base = (j * G + g) * (QGROUP / 2);
      for (let b = 0; b < QGROUP / 2; b++) qs[base + b] = q[b] | (q[b + QGROUP / 2] << 4);
    }
  }
}

/**
 * `src` (f32, f16 or bf16) in `format`; returns `src` itself when it already is. `what` names the
 * tensor in errors (a non-finite weight cannot be quantized; a q8/q4 source cannot be converted).
 * q8/q4 run in the native addon when it is built (`native: false` forces the TypeScript loop).
 */
export function convertWeight(src: HostWeight, format: WeightFormat, what = "weight", opts: { native?: boolean } = {}): HostWeight {
  if (src.format === format) return src;
  const { rows, cols } = src;
  if (src.format === "q8" || src.format === "q4") {
    throw new TypeError(`${what}: cannot convert ${src.format} weights to ${format} (quantize from the float checkpoint)`);
  }
  const G = groupsPerRow(cols);
  const addon = opts.native === false ? null : loaderAddon();
  if (addon && (format === "q8" || format === "q4")) {
    // the same arithmetic in C++ over the thread pool (~100x the TypeScript loop; tests compare bytes)
    const qs = format === "q8" ? new Int8Array(rows * G * QGROUP) : new Uint8Array(rows * G * (QGROUP / 2));
    const scales = new Uint16Array(rows * G);
    try {
      addon.quantize(src.data, src.format, rows, cols, qs, scales);
    } catch (err) {
      throw new RangeError(`${what}: ${(err as Error).message}; cannot quantize`);
    }
    return format === "q8" ? { format, rows, cols, qs: qs as Int8Array, scales } : { format, rows, cols, qs: qs as Uint8Array, scales };
  }
  const row = new Float32Array(cols);
  switch (format) {
    case "q8": {
      const qs = new Int8Array(rows * G * QGROUP);
      const scales = new Uint16Array(rows * G);
      q8Rows(what, src, qs, scales, 0, rows, row);
      return { format, rows, cols, qs, scales };
    }
    case "q4": {
      const qs = new Uint8Array(rows * G * (QGROUP / 2));
      const scales = new Uint16Array(rows * G);
      q4Rows(what, src, qs, scales, 0, rows, row);
      return { format, rows, cols, qs, scales };
    }
    case "f32": {
      const data = new Float32Array(rows * cols);
      for (let j = 0; j < rows; j++) {
        dequantRow(src, j, row);
        data.set(row, j * cols);
      }
      return { format, rows, cols, data };
    }
    case "bf16":
    case "f16": {
      const data = new Uint16Array(rows * cols);
      for (let j = 0; j < rows; j++) {
        dequantRow(src, j, row);
        if (format === "bf16") {
          data.set(toBf16(row), j * cols);
        } else {
          for (let p = 0; p < cols; p++) {
            if (Math.abs(row[p]) > F16_MAX) throw new RangeError(`${what}: weight ${row[p]} at row ${j}, column ${p} overflows f16`);
            data[j * cols + p] = f32ToF16Bits(row[p]);
          }
        }
      }
      return { format, rows, cols, data };
    }
  }
}

/**
 * Largest |w - dequant(q)| a weight can have after quantizing its group, relative to the group's
 * max |w|: half a step of the grid, plus the f16 rounding of the scale (2^-11 relative) over the
 * grid's reach, plus the absolute error of a scale in f16's subnormal range (spacing 2^-24).
 * q8: step amax/127; q4: step amax/8 (the far side is clamped at 7 steps, within one step).
 */
export function quantErrorBound(format: "q8" | "q4", groupAmax: number): number {
  const rel = 2 ** -11;
  if (format === "q8") return groupAmax * (0.5 / 127 + rel * 1.01) + 128 * 2 ** -25;
  return groupAmax * (1 / 8 + rel * 1.01) + 9 * 2 ** -25;
}
