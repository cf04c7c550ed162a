import type { HostBackend } from "./backend";
import { dequantRow, WEIGHT_FORMATS, type HostWeight } from "./tensor";

/** row j of w as f32: the weight's own array for f32 (no copy), else dequantized into `scratch` */
function weightRow(w: HostWeight, j: number, scratch: Float32Array): Float32Array {
  if (w.format === "f32") return w.data.subarray(j * w.cols, (j + 1) * w.cols);
  dequantRow(w, j, scratch);
  return scratch;
}

/**
 * The reference backend: every op written as the plain loop of its doc comment in `backend.ts`.
 * Slow but obviously correct; tests compare the native kernels against it. Sums accumulate in
 * JS doubles and are stored into the Float32Array outputs (rounded to fp32 on store). Tensors
 * are host arrays: uploads return their argument.
 */
export const referenceBackend: HostBackend = {
  name: "reference",
  device: "cpu",
  weightFormats: WEIGHT_FORMATS,

  allocF32: (n) => new Float32Array(n),
  uploadF32: (src) => src,
  uploadI32: (src) => src,
  uploadWeight: (w) => w,
  readF32: (src, n) => src.subarray(0, n),
  release() {},

  matmul(out, x, w, m, k, n) {
    const scratch = new Float32Array(k);
    for (let j = 0; j < n; j++) {
      const wr = weightRow(w, j, scratch);
      for (let i = 0; i < m; i++) {
        const xo = i * k;
        let acc = 0;
        for (let p = 0; p < k; p++) acc += x[xo + p] * wr[p];
        out[i * n + j] = acc;
      }
    }
  },

  rmsNorm(out, x, weight, rows, dim, eps) {
    for (let i = 0; i < rows; i++) {
      const o = i * dim;
      let ss = 0;
      for (let j = 0; j < dim; j++) ss += x[o + j] * x[o + j];
      const r = Math.fround(1 / Math.sqrt(Math.fround(ss / dim) + eps));
      for (let j = 0; j < dim; j++) out[o + j] = weight[j] * Math.fround(x[o + j] * r);
    }
  },

  rope(x, positions, invFreq, tokens, numHeads, headDim) {
    const half = headDim >> 1;
    const width = numHeads * headDim;
    for (let t = 0; t < tokens; t++) {
      for (let i = 0; i < half; i++) {
        const f = Math.fround(positions[t] * invFreq[i]);
        const c = Math.cos(f);
        const s = Math.sin(f);
        for (let h = 0; h < numHeads; h++) {
          const o = t * width + h * headDim;
          const a = x[o + i];
          const b = x[o + i + half];
          x[o + i] = a * c - b * s;
          x[o + i + half] = b * c + a * s;
        }
      }
    }
  },

  siluMul(out, gate, up, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      out[i] = (g / (1 + Math.exp(-g))) * up[i];
    }
  },

  addInPlace(y, x, n) {
    for (let i = 0; i < n; i++) y[i] += x[i];
  },

  embed(out, table, ids, tokens, dim) {
    const scratch = new Float32Array(dim);
    for (let t = 0; t < tokens; t++) {
      const row = weightRow(table, ids[t], scratch);
      for (let j = 0; j < dim; j++) out[t * dim + j] = row[j];
    }
  },

  gatherRows(out, x, rows, count, dim) {
    for (let r = 0; r < count; r++) {
      for (let j = 0; j < dim; j++) out[r * dim + j] = x[rows[r] * dim + j];
    }
  },

  kvWrite(kCache, vCache, k, v, slots, tokens, kvDim) {
    for (let t = 0; t < tokens; t++) {
      const dst = slots[t] * kvDim;
      for (let j = 0; j < kvDim; j++) {
        kCache[dst + j] = k[t * kvDim + j];
        vCache[dst + j] = v[t * kvDim + j];
      }
    }
  },

  attention(out, q, kCache, vCache, blockTables, seqIndex, positions, tokens, numHeads, numKvHeads, headDim, blockSize, maxBlocksPerSeq, window, scale) {
    const group = numHeads / numKvHeads;
    const qWidth = numHeads * headDim;
    const kvWidth = numKvHeads * headDim;
    for (let t = 0; t < tokens; t++) {
      const p = positions[t];
      const lo = window > 0 ? Math.max(0, p - window + 1) : 0;
      const tableRow = seqIndex[t] * maxBlocksPerSeq;
      for (let h = 0; h < numHeads; h++) {
        const g = Math.floor(h / group);
        const qo = t * qWidth + h * headDim;
        const scores: number[] = [];
        const slots: number[] = [];
        let max = -Infinity;
        for (let j = lo; j <= p; j++) {
          const slot = blockTables[tableRow + Math.floor(j / blockSize)] * blockSize + (j % blockSize);
          const ko = slot * kvWidth + g * headDim;
          let s = 0;
          for (let d = 0; d < headDim; d++) s += q[qo + d] * kCache[ko + d];
          s *= scale;
          scores.push(s);
          slots.push(slot);
          if (s > max) max = s;
        }
        let sum = 0;
        for (let i = 0; i < scores.length; i++) {
          scores[i] = Math.exp(scores[i] - max);
          sum += scores[i];
        }
        for (let d = 0; d < headDim; d++) {
          let acc = 0;
          for (let i = 0; i < scores.length; i++) acc += scores[i] * vCache[slots[i] * kvWidth + g * headDim + d];
          out[qo + d] = sum > 0 ? acc / sum : 0;
        }
      }
    }
  },

  lora(y, x, k, n, segStarts, a, b, ranks, scales) {
    for (let s = 0; s < segStarts.length - 1; s++) {
      const as = a[s];
      const bs = b[s];
      if (as === null || bs === null) continue;
      const r = ranks[s];
      const h = new Float64Array(r);
      for (let t = segStarts[s]; t < segStarts[s + 1]; t++) {
        for (let i = 0; i < r; i++) {
          let acc = 0;
          for (let p = 0; p < k; p++) acc += x[t * k + p] * as[i * k + p];
          h[i] = acc;
        }
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let i = 0; i < r; i++) acc += h[i] * bs[j * r + i];
          y[t * n + j] += scales[s] * acc;
        }
      }
    }
  },
};
