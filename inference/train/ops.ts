/**
 * The training ops: each forward as the inference Backend computes it (same formulas, same fp32
 * rounding points), and its backward. Every backward is checked against central finite
 * differences in f64 (tests/train/grad-ops.test.ts).
 *
 * Sequences are contiguous runs of tokens: `seqStarts` (S+1) splits the T tokens of a packed
 * batch into S sequences, positions restart at 0 in each (padding-free packing).
 */
import { nativeFor } from "./native-train";
import type { Buf } from "./tensor";

// Each op below runs the addon's f32 kernel (inference/native/train.inc) when every buffer is
// f32 and the addon is built; the loops are the definition it must equal (and run for f64).

// ---------------------------------------------------------------- RMSNorm

/**
 * y (rows, dim) = weight ⊙ x · r,  r = 1/sqrt(mean(x²) + eps), per row; rstd (rows) keeps r.
 * As the Backend's rmsNorm: the mean and r rounded to the output's precision.
 */
export function rmsNormForward(y: Buf, rstd: Buf, x: Buf, weight: Buf, rows: number, dim: number, eps: number): void {
  const nat = nativeFor(y, rstd, x, weight);
  if (nat) return nat.trRmsFwd(y as Float32Array, rstd as Float32Array, x as Float32Array, weight as Float32Array, rows, dim, eps);
  const f32 = y instanceof Float32Array;
  for (let i = 0; i < rows; i++) {
    const o = i * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[o + j] * x[o + j];
    const r = f32 ? Math.fround(1 / Math.sqrt(Math.fround(ss / dim) + eps)) : 1 / Math.sqrt(ss / dim + eps);
    rstd[i] = r;
    if (f32) for (let j = 0; j < dim; j++) y[o + j] = weight[j] * Math.fround(x[o + j] * r);
    else for (let j = 0; j < dim; j++) y[o + j] = weight[j] * (x[o + j] * r);
  }
}

/**
 * dx += ∂/∂x of Σ dy ⊙ y:  g = weight ⊙ dy;  dx = r·g − x · r³/dim · Σ_j g_j x_j
 */
export function rmsNormBackward(dx: Buf, dy: Buf, x: Buf, weight: Buf, rstd: Buf, rows: number, dim: number): void {
  const nat = nativeFor(dx, dy, x, weight, rstd);
  if (nat) return nat.trRmsBwd(dx as Float32Array, dy as Float32Array, x as Float32Array, weight as Float32Array, rstd as Float32Array, rows, dim);
  for (let i = 0; i < rows; i++) {
    const o = i * dim;
    const r = rstd[i];
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += weight[j] * dy[o + j] * x[o + j];
    const c = (dot * r * r * r) / dim;
    for (let j = 0; j < dim; j++) dx[o + j] += r * weight[j] * dy[o + j] - c * x[o + j];
  }
}

// ---------------------------------------------------------------- RoPE

/**
 * Rotary embedding in place, HF rotate_half layout, as the Backend's rope:
 *   f = fround(pos * invFreq[i]); (a, b) = (x[i], x[i+half]) → (a·cos f − b·sin f, b·cos f + a·sin f)
 * With `inverse` it rotates by −f: the backward of the forward (a rotation's transpose).
 *   x: (tokens, numHeads*headDim), positions: (tokens), invFreq: (headDim/2)
 */
export function rope(x: Buf, positions: Int32Array, invFreq: Float32Array, tokens: number, numHeads: number, headDim: number, inverse = false): void {
  const nat = nativeFor(x);
  if (nat) return nat.trRope(x as Float32Array, positions, invFreq, tokens, numHeads, headDim, inverse ? -1 : 1);
  const half = headDim >> 1;
  const width = numHeads * headDim;
  const sign = inverse ? -1 : 1;
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < half; i++) {
      const f = Math.fround(positions[t] * invFreq[i]);
      const c = Math.cos(f);
      const s = sign * Math.sin(f);
      for (let h = 0; h < numHeads; h++) {
        const o = t * width + h * headDim;
        const a = x[o + i];
        const b = x[o + i + half];
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}

// ---------------------------------------------------------------- SiLU · mul

/** out[i] = silu(gate[i]) · up[i], silu(g) = g / (1 + exp(−g)); sig (n) keeps σ(g) for the backward */
export function siluMulForward(out: Buf, sig: Buf, gate: Buf, up: Buf, n: number): void {
  const nat = nativeFor(out, sig, gate, up);
  if (nat) return nat.trSiluFwd(out as Float32Array, sig as Float32Array, gate as Float32Array, up as Float32Array, n);
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const e = 1 + Math.exp(-g);
    sig[i] = 1 / e;
    out[i] = (g / e) * up[i];
  }
}

/** dgate = dout · up · σ(g)(1 + g(1 − σ(g))),  dup = dout · silu(g)  (written, not added) */
export function siluMulBackward(dgate: Buf, dup: Buf, dout: Buf, gate: Buf, up: Buf, sig: Buf, n: number): void {
  const nat = nativeFor(dgate, dup, dout, gate, up, sig);
  if (nat) return nat.trSiluBwd(dgate as Float32Array, dup as Float32Array, dout as Float32Array, gate as Float32Array, up as Float32Array, sig as Float32Array, n);
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const s = sig[i];
    const d = dout[i];
    dup[i] = d * g * s;
    dgate[i] = d * up[i] * s * (1 + g * (1 - s));
  }
}

// ---------------------------------------------------------------- causal attention

export interface AttnShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** 0 = none; else token at p sees j with j > p − window */
  window: number;
  scale: number;
}

/**
 * Causal attention (GQA) within each contiguous sequence; lse (T, numHeads) keeps each row's
 * log-sum-exp of the scaled scores so that the backward recomputes the probabilities.
 *   q, out: (T, numHeads*headDim); k, v: (T, numKvHeads*headDim)
 *   token t (position p in its sequence starting at s0) and head h, group g = h / (numHeads/numKvHeads):
 *     s_j = scale · q[t,h]·k[s0+j,g] for j in [max(0, p−window+1), p];  out[t,h] = Σ_j softmax(s)_j v[s0+j,g]
 */
export function attentionForward(out: Buf, lse: Buf, q: Buf, k: Buf, v: Buf, seqStarts: Int32Array, a: AttnShape, scores: Float64Array): void {
  const { numHeads: nH, numKvHeads: nKv, headDim: d, window, scale } = a;
  const group = nH / nKv;
  const qW = nH * d;
  const kW = nKv * d;
  const acc = new Float64Array(d);
  for (let s = 0; s + 1 < seqStarts.length; s++) {
    const s0 = seqStarts[s];
    const s1 = seqStarts[s + 1];
    for (let t = s0; t < s1; t++) {
      const lo = window > 0 ? Math.max(s0, t - window + 1) : s0;
      for (let h = 0; h < nH; h++) {
        const g = (h / group) | 0;
        const qo = t * qW + h * d;
        let max = -Infinity;
        for (let j = lo; j <= t; j++) {
          const ko = j * kW + g * d;
          let dot = 0;
          for (let e = 0; e < d; e++) dot += q[qo + e] * k[ko + e];
          dot *= scale;
          scores[j - lo] = dot;
          if (dot > max) max = dot;
        }
        let sum = 0;
        acc.fill(0);
        for (let j = lo; j <= t; j++) {
          const p = Math.exp(scores[j - lo] - max);
          sum += p;
          const vo = j * kW + g * d;
          for (let e = 0; e < d; e++) acc[e] += p * v[vo + e];
        }
        for (let e = 0; e < d; e++) out[qo + e] = acc[e] / sum;
        lse[t * nH + h] = max + Math.log(sum);
      }
    }
  }
}

/**
 * Backward of attentionForward (dq, dk, dv are added to). With P = softmax probabilities
 * (recomputed from lse), D_t = dout_t · out_t:
 *   dP_j = dout_t · v_j;  dS_j = P_j (dP_j − D_t);  dq_t += scale Σ_j dS_j k_j;
 *   dk_j += scale dS_j q_t;  dv_j += P_j dout_t
 */
export function attentionBackward(dq: Buf, dk: Buf, dv: Buf, dout: Buf, out: Buf, lse: Buf, q: Buf, k: Buf, v: Buf, seqStarts: Int32Array, a: AttnShape): void {
  const { numHeads: nH, numKvHeads: nKv, headDim: d, window, scale } = a;
  const group = nH / nKv;
  const qW = nH * d;
  const kW = nKv * d;
  for (let s = 0; s + 1 < seqStarts.length; s++) {
    const s0 = seqStarts[s];
    const s1 = seqStarts[s + 1];
    for (let t = s0; t < s1; t++) {
      const lo = window > 0 ? Math.max(s0, t - window + 1) : s0;
      for (let h = 0; h < nH; h++) {
        const g = (h / group) | 0;
        const qo = t * qW + h * d;
        const m = lse[t * nH + h];
        let D = 0;
        for (let e = 0; e < d; e++) D += dout[qo + e] * out[qo + e];
        for (let j = lo; j <= t; j++) {
          const ko = j * kW + g * d;
          let dot = 0;
          let dP = 0;
          for (let e = 0; e < d; e++) {
            dot += q[qo + e] * k[ko + e];
            dP += dout[qo + e] * v[ko + e];
          }
          const p = Math.exp(dot * scale - m);
          const dS = p * (dP - D) * scale;
          for (let e = 0; e < d; e++) {
            dq[qo + e] += dS * k[ko + e];
            dk[ko + e] += dS * q[qo + e];
            dv[ko + e] += p * dout[qo + e];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- cross-entropy

/**
 * Cross-entropy of rows of logits against target ids, summed and multiplied by `weight`
 * (1 / number of target tokens of the optimizer step). Writes dlogits = weight·(softmax − onehot)
 * in place of the logits. Returns the unweighted sum of −log p(target).
 *   logits: (rows, vocab), targets: (rows)
 */
export function crossEntropy(logits: Buf, targets: Int32Array, rows: number, vocab: number, weight: number): number {
  const nat = nativeFor(logits);
  if (nat && rows > 0) {
    const loss = new Float64Array(rows);
    nat.trCrossEntropy(logits as Float32Array, targets, loss, rows, vocab, weight);
    let sum = 0;
    for (let r = 0; r < rows; r++) sum += loss[r];
    return sum;
  }
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) if (logits[o + j] > max) max = logits[o + j];
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[o + j] - max);
    const lse = max + Math.log(sum);
    const tgt = targets[r];
    total += lse - logits[o + tgt];
    for (let j = 0; j < vocab; j++) logits[o + j] = weight * Math.exp(logits[o + j] - lse);
    logits[o + tgt] -= weight;
  }
  return total;
}

// ---------------------------------------------------------------- dropout

/**
 * Inverted dropout: each element is dropped with probability p, independently; out = x · keep /
 * (1 − p), keep (n) records the mask for the backward (d_in = d_out · keep / (1 − p)).
 * The drops are drawn as geometric gaps (floor(log U / log(1 − p)) kept elements between two
 * drops), the same distribution as one draw per element at p·n draws.
 */
export function dropoutForward(out: Buf, keep: Uint8Array, x: Buf, n: number, p: number, rand: () => number): void {
  const s = 1 / (1 - p);
  for (let i = 0; i < n; i++) out[i] = x[i] * s;
  keep.fill(1, 0, n);
  const lq = Math.log(1 - p);
  for (let i = Math.floor(Math.log(1 - rand()) / lq); i < n; i += 1 + Math.floor(Math.log(1 - rand()) / lq)) {
    out[i] = 0;
    keep[i] = 0;
  }
}

/**
 * The dropped positions of an n-element dropout at rate p, ascending: each element dropped with
 * probability p independently, drawn as geometric gaps (as dropoutForward draws them). Training
 * applies dropout(x)·Aᵀ as (x·Aᵀ − Σ_dropped x[t,i]·A[:,i]) / (1 − p): no masked copy of x.
 */
export function dropoutIndices(n: number, p: number, rand: () => number, into?: Int32Array): Int32Array {
  const lq = Math.log(1 - p);
  // `into`: a buffer to reuse (grown by doubling when the draws need more)
  let out = into ?? new Int32Array(Math.ceil(n * p * 1.1) + 64);
  let c = 0;
  for (let i = Math.floor(Math.log(1 - rand()) / lq); i < n; i += 1 + Math.floor(Math.log(1 - rand()) / lq)) {
    if (c === out.length) {
      const g = new Int32Array(2 * out.length + 64);
      g.set(out);
      out = g;
    }
    out[c++] = i;
  }
  return out.subarray(0, c);
}

/** dx += dout · keep / (1 − p) */
export function dropoutBackwardAdd(dx: Buf, dout: Buf, keep: Uint8Array, n: number, p: number): void {
  const s = 1 / (1 - p);
  for (let i = 0; i < n; i++) if (keep[i]) dx[i] += dout[i] * s;
}

/**
 * LoRA dropout as sparse corrections at the dropped flat indices idx = t·k + col of x (T, k):
 *   forward:  h[t*r+i] −= x[idx] · a[i*k+col]          (h (T, r) = x·Aᵀ, A (r, k); the caller scales by 1/(1−p))
 *   backward: ga[i*k+col] −= alpha · dh[t*r+i] · x[idx];  dxl[idx] = 0
 */
export function loraDropForward(h: Buf, x: Buf, a: Buf, drops: Int32Array, k: number, r: number): void {
  const nat = nativeFor(h, x, a);
  if (nat) return nat.trDropFwd(h as Float32Array, x as Float32Array, a as Float32Array, drops, k, r);
  for (let d = 0; d < drops.length; d++) {
    const idx = drops[d];
    const t = (idx / k) | 0;
    const col = idx - t * k;
    const xv = x[idx];
    for (let i = 0; i < r; i++) h[t * r + i] -= xv * a[i * k + col];
  }
}

export function loraDropBackward(ga: Buf, dxl: Buf, dh: Buf, x: Buf, drops: Int32Array, k: number, r: number, alpha: number): void {
  const nat = nativeFor(ga, dxl, dh, x);
  if (nat) return nat.trDropBwd(ga as Float32Array, dxl as Float32Array, dh as Float32Array, x as Float32Array, drops, k, r, alpha);
  for (let d = 0; d < drops.length; d++) {
    const idx = drops[d];
    const t = (idx / k) | 0;
    const col = idx - t * k;
    const xv = x[idx];
    for (let i = 0; i < r; i++) ga[i * k + col] -= alpha * dh[t * r + i] * xv;
    dxl[idx] = 0;
  }
}
