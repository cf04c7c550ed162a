/**
 * Causal attention forward/backward as matmuls per (sequence, KV group): the same results as
 * attentionForward / attentionBackward in ops.ts (the plain loops they must equal; tests compare
 * them), with the O(L²·d) work on the matmul kernel and only O(L·d) gathers and O(L²) softmax
 * work left in TypeScript.
 *
 * Per sequence of L tokens and group g (G = numHeads/numKvHeads query heads share one K/V head),
 * rows i = hh·L + t (head g·G+hh, token t):
 *   Qg (G·L, d), Kg (L, d), Vg (L, d);  S = scale · Qg·Kgᵀ (G·L, L), masked j > t or outside
 *   the window; P = softmax(S) by rows; O = P·Vg
 * Backward: dP = dO·Vgᵀ; dS = P ⊙ (dP − rowsum(dO ⊙ O)); dQ = scale·dS·Kg; dK = scale·dSᵀ·Qg;
 *   dV = Pᵀ·dO
 * f32 with the addon built runs its fused kernel instead (train.inc: one task per (sequence,
 * group) on the thread pool, the loops of ops.ts).
 */
import { matmul } from "./matmul";
import { nativeFor } from "./native-train";
import type { AttnShape } from "./ops";
import { alloc, transpose, type Buf, type Dtype } from "./tensor";

/** Scratch buffers grown to the largest (sequence, group) seen. */
export class AttentionScratch {
  private bufs = new Map<string, Buf>();
  constructor(readonly dtype: Dtype) {}
  get(role: string, n: number): Buf {
    let b = this.bufs.get(role);
    if (!b || b.length < n) {
      b = alloc(this.dtype, n);
      this.bufs.set(role, b);
    }
    return b.subarray(0, n);
  }
}

/** rows [s0, s0+L) of x (T, width), columns [col, col+d), for each of G heads → (G·L, d) */
function gather(dst: Buf, x: Buf, s0: number, L: number, width: number, col: number, G: number, d: number): Buf {
  for (let hh = 0; hh < G; hh++) {
    for (let t = 0; t < L; t++) {
      const src = (s0 + t) * width + col + hh * d;
      const o = (hh * L + t) * d;
      for (let e = 0; e < d; e++) dst[o + e] = x[src + e];
    }
  }
  return dst;
}

/** x[rows, cols] += src (G·L, d), the inverse of gather */
function scatterAdd(x: Buf, src: Buf, s0: number, L: number, width: number, col: number, G: number, d: number): void {
  for (let hh = 0; hh < G; hh++) {
    for (let t = 0; t < L; t++) {
      const dst = (s0 + t) * width + col + hh * d;
      const o = (hh * L + t) * d;
      for (let e = 0; e < d; e++) x[dst + e] += src[o + e];
    }
  }
}

/** P (G·L, L) = softmax(scale·S) over each row's visible keys (0 elsewhere); lse per row */
function softmaxRows(P: Buf, S: Buf, G: number, L: number, window: number, scale: number, lseOut: ((row: number, v: number) => void) | null, lseIn: ((row: number) => number) | null): void {
  for (let i = 0; i < G * L; i++) {
    const t = i % L;
    const lo = window > 0 ? Math.max(0, t - window + 1) : 0;
    const o = i * L;
    let m: number;
    if (lseIn) m = lseIn(i);
    else {
      let max = -Infinity;
      for (let j = lo; j <= t; j++) max = Math.max(max, S[o + j] * scale);
      let sum = 0;
      for (let j = lo; j <= t; j++) sum += Math.exp(S[o + j] * scale - max);
      m = max + Math.log(sum);
      lseOut!(i, m);
    }
    for (let j = 0; j < lo; j++) P[o + j] = 0;
    for (let j = lo; j <= t; j++) P[o + j] = Math.exp(S[o + j] * scale - m);
    for (let j = t + 1; j < L; j++) P[o + j] = 0;
  }
}

export function attentionForwardMM(out: Buf, lse: Buf, q: Buf, k: Buf, v: Buf, seqStarts: Int32Array, a: AttnShape, sc: AttentionScratch): void {
  const { numHeads: nH, numKvHeads: nKv, headDim: d, window, scale } = a;
  const nat = nativeFor(out, lse, q, k, v);
  if (nat) return nat.trAttnFwd(out as Float32Array, lse as Float32Array, q as Float32Array, k as Float32Array, v as Float32Array, seqStarts, nH, nKv, d, window, scale);
  const G = nH / nKv;
  const qW = nH * d, kW = nKv * d;
  for (let s = 0; s + 1 < seqStarts.length; s++) {
    const s0 = seqStarts[s];
    const L = seqStarts[s + 1] - s0;
    if (L === 0) continue;
    for (let g = 0; g < nKv; g++) {
      const Qg = gather(sc.get("Q", G * L * d), q, s0, L, qW, g * G * d, G, d);
      const Kg = gather(sc.get("K", L * d), k, s0, L, kW, g * d, 1, d);
      const Vg = gather(sc.get("V", L * d), v, s0, L, kW, g * d, 1, d);
      const VgT = transpose(sc.get("VT", d * L), Vg, L, d);
      const S = sc.get("S", G * L * L);
      matmul(S, Qg, Kg, G * L, d, L);
      const P = sc.get("P", G * L * L);
      softmaxRows(P, S, G, L, window, scale, (i, m) => { lse[(s0 + (i % L)) * nH + g * G + Math.floor(i / L)] = m; }, null);
      const O = sc.get("O", G * L * d);
      matmul(O, P, VgT, G * L, L, d);
      for (let hh = 0; hh < G; hh++) {
        for (let t = 0; t < L; t++) {
          const dst = (s0 + t) * qW + (g * G + hh) * d;
          const o = (hh * L + t) * d;
          for (let e = 0; e < d; e++) out[dst + e] = O[o + e];
        }
      }
    }
  }
}

/** dq, dk, dv are added to (as attentionBackward) */
export function attentionBackwardMM(dq: Buf, dk: Buf, dv: Buf, dout: Buf, out: Buf, lse: Buf, q: Buf, k: Buf, v: Buf, seqStarts: Int32Array, a: AttnShape, sc: AttentionScratch): void {
  const { numHeads: nH, numKvHeads: nKv, headDim: d, window, scale } = a;
  const nat = nativeFor(dq, dk, dv, dout, out, lse, q, k, v);
  if (nat) return nat.trAttnBwd(dq as Float32Array, dk as Float32Array, dv as Float32Array, dout as Float32Array, out as Float32Array, lse as Float32Array, q as Float32Array, k as Float32Array, v as Float32Array, seqStarts, nH, nKv, d, window, scale);
  const G = nH / nKv;
  const qW = nH * d, kW = nKv * d;
  for (let s = 0; s + 1 < seqStarts.length; s++) {
    const s0 = seqStarts[s];
    const L = seqStarts[s + 1] - s0;
    if (L === 0) continue;
    for (let g = 0; g < nKv; g++) {
      const col = g * G * d;
      const Qg = gather(sc.get("Q", G * L * d), q, s0, L, qW, col, G, d);
      const Kg = gather(sc.get("K", L * d), k, s0, L, kW, g * d, 1, d);
      const Vg = gather(sc.get("V", L * d), v, s0, L, kW, g * d, 1, d);
      const dO = gather(sc.get("dO", G * L * d), dout, s0, L, qW, col, G, d);
      const O = gather(sc.get("O", G * L * d), out, s0, L, qW, col, G, d);
      const S = sc.get("S", G * L * L);
      matmul(S, Qg, Kg, G * L, d, L);
      const P = sc.get("P", G * L * L);
      softmaxRows(P, S, G, L, window, scale, null, (i) => lse[(s0 + (i % L)) * nH + g * G + Math.floor(i / L)]);
      const dP = sc.get("dP", G * L * L);
      matmul(dP, dO, Vg, G * L, d, L);
      // dS (in dP) = scale · P ⊙ (dP − D_row)
      for (let i = 0; i < G * L; i++) {
        let D = 0;
        for (let e = 0; e < d; e++) D += dO[i * d + e] * O[i * d + e];
        const o = i * L;
        for (let j = 0; j < L; j++) dP[o + j] = scale * P[o + j] * (dP[o + j] - D);
      }
      // dQ = dS·Kg
      const KgT = transpose(sc.get("KT", d * L), Kg, L, d);
      const dQ = sc.get("dQ", G * L * d);
      matmul(dQ, dP, KgT, G * L, L, d);
      scatterAdd(dq, dQ, s0, L, qW, col, G, d);
      // dK = dSᵀ·Qg, dV = Pᵀ·dO (inner dimension G·L)
      const dST = transpose(sc.get("dST", L * G * L), dP, G * L, L);
      const QgT = transpose(sc.get("QT", d * G * L), Qg, G * L, d);
      const dKV = sc.get("dKV", L * d);
      matmul(dKV, dST, QgT, L, G * L, d);
      scatterAdd(dk, dKV, s0, L, kW, g * d, 1, d);
      const PT = transpose(sc.get("PT", L * G * L), P, G * L, L);
      const dOT = transpose(sc.get("dOT", d * G * L), dO, G * L, d);
      matmul(dKV, PT, dOT, L, G * L, d);
      scatterAdd(dv, dKV, s0, L, kW, g * d, 1, d);
    }
  }
}
