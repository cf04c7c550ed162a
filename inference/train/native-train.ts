/**
 * The addon's training kernels (inference/native/train.inc) as the training ops call them. Each
 * op in matmul.ts / ops.ts / attention-mm.ts runs its kernel here when every buffer is f32 and
 * the addon is built, else its TypeScript loop (f64 gradient checks, machines without the addon,
 * and the tests that compare the two: setForceLoop).
 */
import { loadAddon } from "../kernels/native";

export interface TrainAddon {
  /** layout 0: a (m,k)·b (n,k)ᵀ; 1: a (m,k)·b (k,n); 2: a (k,m)ᵀ·b (k,n); out (m,n) = [out +] alpha·product */
  trMatmul(out: Float32Array, a: Float32Array, b: Float32Array, m: number, k: number, n: number, layout: 0 | 1 | 2, alpha: number, acc: 0 | 1): void;
  trAxpy(y: Float32Array, alpha: number, x: Float32Array, n: number): void;
  trSiluFwd(out: Float32Array, sig: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  trSiluBwd(dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array, sig: Float32Array, n: number): void;
  trRmsFwd(y: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number): void;
  trRmsBwd(dx: Float32Array, dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, rows: number, dim: number): void;
  trRope(x: Float32Array, positions: Int32Array, invFreq: Float32Array, tokens: number, heads: number, headDim: number, sign: number): void;
  trAttnFwd(out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, seqStarts: Int32Array, nH: number, nKv: number, d: number, window: number, scale: number): void;
  trAttnBwd(dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, seqStarts: Int32Array, nH: number, nKv: number, d: number, window: number, scale: number): void;
  trDropFwd(h: Float32Array, x: Float32Array, a: Float32Array, drops: Int32Array, k: number, r: number): void;
  trDropBwd(ga: Float32Array, dxl: Float32Array, dh: Float32Array, x: Float32Array, drops: Int32Array, k: number, r: number, alpha: number): void;
  trCrossEntropy(logits: Float32Array, targets: Int32Array, loss: Float64Array, rows: number, vocab: number, weight: number): void;
}

let addon: TrainAddon | null | undefined;
let forceLoop = false;

/** Tests: run f32 on the TypeScript loops too (to compare the two). */
export function setForceLoop(on: boolean): void {
  forceLoop = on;
}

/** The addon's training kernels, or null (not built, an older build without them, or forced off). */
export function trainAddon(): TrainAddon | null {
  if (forceLoop) return null;
  if (addon === undefined) {
    try {
      const a = loadAddon() as unknown as Partial<TrainAddon>;
      addon = typeof a.trMatmul === "function" && typeof a.trAttnBwd === "function" && typeof a.trCrossEntropy === "function" ? (a as TrainAddon) : null;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** The addon when every buffer is f32 (the kernels are f32 only), else null. */
export function nativeFor(...bufs: ArrayLike<number>[]): TrainAddon | null {
  for (const b of bufs) if (!(b instanceof Float32Array)) return null;
  return trainAddon();
}
