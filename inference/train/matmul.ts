/**
 * The one heavy op of training: out (m, n) = x (m, k) · wᵀ, w (n, k).
 *   for i<m, j<n: out[i*n+j] = Σ_p x[i*k+p] * w[j*k+p]
 * gemm() adds the other layouts (a·b, aᵀ·b) with a scale and accumulation, on the addon's
 * training kernels (inference/native/train.inc), so that the backward makes no transposed copies.
 *
 * f32 runs on the native addon's f32 GEMM (SIMD + its thread pool) when it is built and passes a
 * self-check; f64 (the gradient checks) and machines without the addon run the loop below.
 */
import { loadAddon } from "../kernels/native";
import { nativeFor, setForceLoop } from "./native-train";
import { like, type Buf } from "./tensor";

type Mm = (out: Float32Array, x: Float32Array, w: Float32Array, m: number, k: number, n: number) => void;

/** plain loop, 4 output columns at a time (each x row read once per 4 columns) */
export function matmulLoop(out: Buf, x: Buf, w: Buf, m: number, k: number, n: number): void {
  for (let i = 0; i < m; i++) {
    const xo = i * k;
    const oo = i * n;
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const w0 = j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let p = 0; p < k; p++) {
        const xv = x[xo + p];
        a0 += xv * w[w0 + p];
        a1 += xv * w[w1 + p];
        a2 += xv * w[w2 + p];
        a3 += xv * w[w3 + p];
      }
      out[oo + j] = a0;
      out[oo + j + 1] = a1;
      out[oo + j + 2] = a2;
      out[oo + j + 3] = a3;
    }
    for (; j < n; j++) {
      const wo = j * k;
      let a = 0;
      for (let p = 0; p < k; p++) a += x[xo + p] * w[wo + p];
      out[oo + j] = a;
    }
  }
}

let native: Mm | null | undefined;

/** The addon's f32 matmul if it loads and computes a small product right; else null. */
export function nativeMatmul(): Mm | null {
  if (native !== undefined) return native;
  native = null;
  try {
    const mm = loadAddon().matmul as Mm;
    const m = 3, k = 37, n = 5;
    const x = Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 11) / 11 - 0.5);
    const w = Float32Array.from({ length: n * k }, (_, i) => ((i * 5) % 13) / 13 - 0.5);
    const a = new Float32Array(m * n), b = new Float32Array(m * n);
    mm(a, x, w, m, k, n);
    matmulLoop(b, x, w, m, k, n);
    if (a.every((v, i) => Math.abs(v - b[i]) < 1e-4)) native = mm;
  } catch {
    native = null;
  }
  return native;
}

/** Whether training matmuls run natively (else the TypeScript loop: ~100x slower). */
export function usingNativeMatmul(): boolean {
  return nativeMatmul() !== null;
}

let forceLoop = false;
/** Tests: run f32 on the loop too (to compare the two). */
export function setForceLoopMatmul(on: boolean): void {
  forceLoop = on;
  setForceLoop(on);
}

/** Counts the multiply-adds actually run (for the FLOP/s report). */
export const matmulStats = { flops: 0 };

export function matmul(out: Buf, x: Buf, w: Buf, m: number, k: number, n: number): void {
  if (m === 0 || n === 0) return;
  matmulStats.flops += 2 * m * k * n;
  if (k === 0) {
    out.fill(0, 0, m * n);
    return;
  }
  if (!forceLoop && out instanceof Float32Array && x instanceof Float32Array && w instanceof Float32Array) {
    const mm = nativeMatmul();
    if (mm) {
      mm(out.length === m * n ? out : out.subarray(0, m * n), x.length === m * k ? x : x.subarray(0, m * k), w.length === n * k ? w : w.subarray(0, n * k), m, k, n);
      return;
    }
  }
  matmulLoop(out, x, w, m, k, n);
}

/**
 * The matmul layouts of the backward, out (m, n) = [out +] alpha · product:
 *   "nt": a (m, k) · b (n, k)ᵀ   out[i*n+j] (+)= alpha · Σ_p a[i*k+p] · b[j*k+p]
 *   "nn": a (m, k) · b (k, n)    out[i*n+j] (+)= alpha · Σ_p a[i*k+p] · b[p*n+j]
 *   "tn": a (k, m)ᵀ · b (k, n)   out[i*n+j] (+)= alpha · Σ_p a[p*m+i] · b[p*n+j]
 * f32 on the addon's training kernels; f64 (and no addon) on the loops below.
 */
export function gemm(layout: "nt" | "nn" | "tn", out: Buf, a: Buf, b: Buf, m: number, k: number, n: number, alpha = 1, acc = false): void {
  if (m === 0 || n === 0) return;
  matmulStats.flops += 2 * m * k * n;
  const nat = nativeFor(out, a, b);
  if (nat) {
    nat.trMatmul(out as Float32Array, a as Float32Array, b as Float32Array, m, k, n, layout === "nt" ? 0 : layout === "nn" ? 1 : 2, alpha, acc ? 1 : 0);
    return;
  }
  gemmLoop(layout, out, a, b, m, k, n, alpha, acc);
}

/** the plain loops gemm must equal */
export function gemmLoop(layout: "nt" | "nn" | "tn", out: Buf, a: Buf, b: Buf, m: number, k: number, n: number, alpha = 1, acc = false): void {
  if (layout === "nt") {
    const tmp = like(out, m * n);
    if (k > 0) matmulLoop(tmp, a, b, m, k, n);
    for (let i = 0; i < m * n; i++) out[i] = (acc ? out[i] : 0) + alpha * tmp[i];
    return;
  }
  if (!acc) out.fill(0, 0, m * n);
  if (layout === "nn") {
    for (let i = 0; i < m; i++) {
      const o = i * n;
      for (let p = 0; p < k; p++) {
        const s = alpha * a[i * k + p];
        const bo = p * n;
        for (let j = 0; j < n; j++) out[o + j] += s * b[bo + j];
      }
    }
  } else {
    for (let p = 0; p < k; p++) {
      const ao = p * m, bo = p * n;
      for (let i = 0; i < m; i++) {
        const s = alpha * a[ao + i];
        const o = i * n;
        for (let j = 0; j < n; j++) out[o + j] += s * b[bo + j];
      }
    }
  }
}
