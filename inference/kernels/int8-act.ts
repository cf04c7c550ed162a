/**
 * The plain loop of the native int8-activation matmul for q8 / q4 weights
 * (inference/native/qdot.inc; selected with LORA_KERNELS_QACT=int8, the default, or
 * setQuantActivations): x is quantized per row and group of 32 along k to int8 with one f32
 * scale (llama.cpp's Q8_0 activations), each group's dot product is an exact int32, and the
 * groups are summed in f32 with the product of the two scales. The native kernels equal this
 * loop up to the order of the f32 sum (tests/kernels/formats-int8.test.ts).
 */
import { f16ToF32 } from "./f16";
import { groupsPerRow, QGROUP, type HostWeight } from "./tensor";

/** One row of x quantized: q (G*32, padding 0) and one f32 scale per group. */
export interface QuantizedRow {
  q: Int8Array;
  d: Float32Array;
}

/** Round half away from zero (v is an f32 value, |v| < 2^31: exact in f64). */
function rhaz(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/**
 * Row x[0, k) -> int8 per group of 32: amax = max|x|; a group holding a NaN or ±inf gets d = NaN
 * and all-zero quants; id = f32(127 / amax); when id is not finite (amax = 0 or below 127 / FLT_MAX)
 * d = 0 and the quants are 0; else d = f32(amax / 127), q = rhaz(f32(x * id)) (in [-127, 127]).
 */
export function quantizeActivationRow(x: Float32Array, k: number): QuantizedRow {
  const G = groupsPerRow(k);
  const q = new Int8Array(G * QGROUP);
  const d = new Float32Array(G);
  for (let g = 0; g < G; g++) {
    const p1 = Math.min(k, (g + 1) * QGROUP);
    let amax = 0;
    let bad = false;
    for (let p = g * QGROUP; p < p1; p++) {
      const a = Math.abs(x[p]);
      if (!Number.isFinite(a)) bad = true;
      else if (a > amax) amax = a;
    }
    if (bad) {
      d[g] = NaN;
      continue;
    }
    const id = Math.fround(127 / amax);
    if (!Number.isFinite(id)) continue; // amax = 0, or so small (< 3.7e-37) that 127 / amax overflows: all 0
    d[g] = Math.fround(amax / 127);
    for (let p = g * QGROUP; p < p1; p++) q[p] = rhaz(Math.fround(x[p] * id));
  }
  return { q, d };
}

/** Weight j's quant e of group g as an integer (q8: the int8; q4: nibble - 8). */
function wq(w: HostWeight & { format: "q8" | "q4" }, j: number, g: number, e: number): number {
  const G = groupsPerRow(w.cols);
  if (w.format === "q8") return w.qs[(j * G + g) * QGROUP + e];
  const byte = w.qs[(j * G + g) * 16 + (e & 15)];
  return (e < 16 ? byte & 15 : byte >> 4) - 8;
}

/**
 * out[i*n+j] = Σ_g f32(dw[j,g] * dx[i,g]) * isum[i,j,g], isum = Σ_e qx * qw (int32), summed here
 * in f64 (the native kernels sum in f32, in their own order). Also returns per output
 * mag = Σ_g |f32(dw·dx)| * Σ_e |qx·qw|, the scale of that f32 summation's rounding.
 */
export function matmulInt8Ref(x: Float32Array, w: HostWeight, m: number, k: number, n: number): { out: Float64Array; mag: Float64Array } {
  if (w.format !== "q8" && w.format !== "q4") throw new TypeError(`matmulInt8Ref: q8 or q4 weights only, got ${w.format}`);
  const G = groupsPerRow(k);
  const out = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  const rows = Array.from({ length: m }, (_, i) => quantizeActivationRow(x.subarray(i * k, i * k + k), k));
  for (let j = 0; j < n; j++) {
    for (let g = 0; g < G; g++) {
      const dw = f16ToF32(w.scales[j * G + g]);
      const ws = new Int32Array(QGROUP);
      for (let e = 0; e < QGROUP; e++) ws[e] = wq(w, j, g, e);
      for (let i = 0; i < m; i++) {
        const { q, d } = rows[i];
        let isum = 0;
        let iabs = 0;
        for (let e = 0; e < QGROUP; e++) {
          isum += q[g * QGROUP + e] * ws[e];
          iabs += Math.abs(q[g * QGROUP + e] * ws[e]);
        }
        const s = Math.fround(dw * d[g]);
        out[i * n + j] += s * isum;
        mag[i * n + j] += Math.abs(s) * iabs;
      }
    }
  }
  return { out, mag };
}
