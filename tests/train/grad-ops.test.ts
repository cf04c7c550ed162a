/**
 * Every training op's backward, and the whole model's gradient to LoRA A/B, against central
 * finite differences in f64 (fixture models: GQA, sliding window, tied embeddings, dropout on).
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECTIONS } from "../../inference/adapters/lora-weights";
import { LoraTrainModel } from "../../inference/train/lora-model";
import { attentionBackward, attentionForward, crossEntropy, dropoutBackwardAdd, dropoutForward, rmsNormBackward, rmsNormForward, rope, siluMulBackward, siluMulForward, type AttnShape } from "../../inference/train/ops";
import { attentionBackwardMM, attentionForwardMM, AttentionScratch } from "../../inference/train/attention-mm";
import { matmul, setForceLoopMatmul } from "../../inference/train/matmul";
import { Rng, type Buf } from "../../inference/train/tensor";
import { centralDiff, FIXTURES, fixtureModel, packSequences, randomFill } from "./helpers";

const H = 1e-6;

/** relative error |a − b| / max(|a| + |b|, floor) */
function rel(a: number, b: number, floor = 1e-8): number {
  return Math.abs(a - b) / Math.max(floor, Math.abs(a) + Math.abs(b));
}

/**
 * Checks d(Σ w ⊙ f(x))/dx against the analytic backward at every input element.
 * fwd(x) returns the output; bwd(dy) returns dx.
 */
function checkOp(x: Buf, fwd: () => Buf, bwd: (dy: Buf) => Buf, tol = 1e-6): number {
  const y0 = fwd();
  const w = randomFill(new Float64Array(y0.length), 99);
  const dx = Float64Array.from(bwd(w));
  const loss = () => { const y = fwd(); let s = 0; for (let i = 0; i < y.length; i++) s += w[i] * y[i]; return s; };
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, rel(centralDiff(loss, x, i, H), dx[i]));
  expect(worst).toBeLessThan(tol);
  return worst;
}

describe("op gradients vs finite differences (f64)", () => {
  it("RMSNorm", () => {
    const rows = 3, dim = 8;
    const x = randomFill(new Float64Array(rows * dim), 1);
    const wt = randomFill(new Float64Array(dim), 2);
    const rstd = new Float64Array(rows);
    const fwd = () => { const y = new Float64Array(rows * dim); rmsNormForward(y, rstd, x, wt, rows, dim, 1e-5); return y; };
    checkOp(x, fwd, (dy) => { fwd(); const dx = new Float64Array(x.length); rmsNormBackward(dx, dy, x, wt, rstd, rows, dim); return dx; });
  });

  it("RoPE (the inverse rotation is the backward)", () => {
    const T = 4, heads = 2, d = 8;
    const x = randomFill(new Float64Array(T * heads * d), 3);
    const pos = Int32Array.from([0, 1, 5, 17]);
    const inv = Float32Array.from([1, 0.3, 0.05, 0.001]);
    const fwd = () => { const y = Float64Array.from(x); rope(y, pos, inv, T, heads, d); return y; };
    checkOp(x, fwd, (dy) => { const g = Float64Array.from(dy); rope(g, pos, inv, T, heads, d, true); return g; });
  });

  it("SiLU · mul, both inputs", () => {
    const n = 12;
    const gate = randomFill(new Float64Array(n), 4, 4);
    const up = randomFill(new Float64Array(n), 5);
    const sig = new Float64Array(n);
    const fwd = () => { const y = new Float64Array(n); siluMulForward(y, sig, gate, up, n); return y; };
    const bwd = (which: 0 | 1) => (dy: Buf) => { fwd(); const dg = new Float64Array(n), du = new Float64Array(n); siluMulBackward(dg, du, dy, gate, up, sig, n); return which === 0 ? dg : du; };
    checkOp(gate, fwd, bwd(0));
    checkOp(up, fwd, bwd(1));
  });

  it("causal attention on packed sequences (GQA, sliding window): dq, dk, dv", () => {
    const a: AttnShape = { numHeads: 4, numKvHeads: 2, headDim: 4, window: 3, scale: 0.5 };
    const seq = Int32Array.from([0, 5, 6, 10]); // sequences of 5, 1 and 4 tokens
    const T = 10;
    const q = randomFill(new Float64Array(T * 16), 6), k = randomFill(new Float64Array(T * 8), 7), v = randomFill(new Float64Array(T * 8), 8);
    const lse = new Float64Array(T * 4);
    const fwd = () => { const o = new Float64Array(T * 16); attentionForward(o, lse, q, k, v, seq, a, new Float64Array(16)); return o; };
    for (const which of [0, 1, 2] as const) {
      checkOp([q, k, v][which], fwd, (dy) => {
        const o = fwd();
        const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
        attentionBackward(dq, dk, dv, dy, o, lse, q, k, v, seq, a);
        return [dq, dk, dv][which];
      });
    }
  });

  it("the matmul-based attention (what training runs) equals the plain loops, forward and backward, f64 and native f32", () => {
    for (const [F, dtype] of [[Float64Array, "f64"], [Float32Array, "f32"]] as const) {
      for (const window of [0, 5]) {
        const seq = Int32Array.from([0, 9, 10, 27]), T = 27, nH = 8, nKv = 2, d = 32;
        const r = (n: number, seed: number) => F.from(randomFill(new Float64Array(n), seed, 0.5));
        const q = r(T * nH * d, 1), k = r(T * nKv * d, 2), v = r(T * nKv * d, 3), dO = r(T * nH * d, 4);
        const a: AttnShape = { numHeads: nH, numKvHeads: nKv, headDim: d, window, scale: 0.3 };
        const o1 = new F(q.length), l1 = new F(T * nH), o2 = new F(q.length), l2 = new F(T * nH);
        attentionForward(o1, l1, q, k, v, seq, a, new Float64Array(T));
        const sc = new AttentionScratch(dtype);
        attentionForwardMM(o2, l2, q, k, v, seq, a, sc);
        const g1 = [new F(q.length), new F(k.length), new F(v.length)], g2 = [new F(q.length), new F(k.length), new F(v.length)];
        attentionBackward(g1[0], g1[1], g1[2], dO, o1, l1, q, k, v, seq, a);
        attentionBackwardMM(g2[0], g2[1], g2[2], dO, o2, l2, q, k, v, seq, a, sc);
        const tol = dtype === "f64" ? 1e-12 : 1e-5;
        for (const [x, y] of [[o1, o2], [l1, l2], [g1[0], g2[0]], [g1[1], g2[1]], [g1[2], g2[2]]]) {
          for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i])).toBeLessThan(tol);
        }
      }
    }
  });

  it("native f32 matmul equals the loop", () => {
    const m = 37, k = 64, n = 19;
    const x = Float32Array.from(randomFill(new Float64Array(m * k), 11)), w = Float32Array.from(randomFill(new Float64Array(n * k), 12));
    const a = new Float32Array(m * n), b = new Float32Array(m * n);
    matmul(a, x, w, m, k, n);
    setForceLoopMatmul(true);
    try { matmul(b, x, w, m, k, n); } finally { setForceLoopMatmul(false); }
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-4);
  });

  it("attention keeps sequences apart: a token never sees another sequence", () => {
    const a: AttnShape = { numHeads: 1, numKvHeads: 1, headDim: 2, window: 0, scale: 1 };
    const q = Float64Array.from([1, 0, 1, 0]), k = Float64Array.from([1, 0, 5, 5]), v = Float64Array.from([3, 4, 100, 100]);
    const out = new Float64Array(4);
    attentionForward(out, new Float64Array(2), q, k, v, Int32Array.from([0, 1, 2]), a, new Float64Array(2));
    expect(Array.from(out)).toEqual([3, 4, 100, 100]);
  });

  it("cross-entropy: gradient of the weighted loss", () => {
    const rows = 2, V = 7;
    const logits = randomFill(new Float64Array(rows * V), 9, 3);
    const tg = Int32Array.from([3, 6]);
    const loss = () => crossEntropy(Float64Array.from(logits), tg, rows, V, 0) * 0.25;
    const g = Float64Array.from(logits);
    crossEntropy(g, tg, rows, V, 0.25);
    for (let i = 0; i < logits.length; i++) expect(rel(centralDiff(loss, logits, i, H), g[i])).toBeLessThan(1e-6);
  });

  it("dropout: the mask scales forward and backward alike; the drop rate is p", () => {
    const n = 20000, p = 0.1;
    const x = randomFill(new Float64Array(n), 10);
    const out = new Float64Array(n), keep = new Uint8Array(n);
    const rng = new Rng(5);
    dropoutForward(out, keep, x, n, p, () => rng.next());
    const dropped = keep.reduce((s, k) => s + (1 - k), 0) / n;
    expect(Math.abs(dropped - p)).toBeLessThan(0.01);
    for (let i = 0; i < 50; i++) expect(out[i]).toBeCloseTo(keep[i] ? x[i] / (1 - p) : 0, 12);
    const dx = new Float64Array(n);
    dropoutBackwardAdd(dx, x, keep, n, p);
    expect(Array.from(dx.subarray(0, 50))).toEqual(Array.from(out.subarray(0, 50)));
  });
});

describe("whole-model LoRA gradient vs finite differences (f64)", () => {
  for (const fx of ["tiny-llama", "tiny-mistral", "tiny-llama3"]) {
    it(`${fx}: every projection's A and B, dropout on`, async () => {
      const { config, weights } = await fixtureModel(path.join(FIXTURES, fx, "base"));
      const m = new LoraTrainModel(config, weights, { r: 4, alpha: 8, dropout: 0.1, targets: PROJECTIONS }, "f64");
      m.params.forEach((p, i) => { randomFill(p.a, 10 + i, 0.3); randomFill(p.b, 100 + i, 0.3); });
      const V = config.vocabSize;
      // three packed sequences; the second is longer than tiny-mistral's sliding window (24)
      const batch = packSequences([[1, 5, 9, 33, 7, 120, 2], Array.from({ length: 30 }, (_, i) => (i * 37 + 1) % V), [1, 44, 2]], [3, 20, 1]);
      const N = batch.targets.length;
      const f = () => { m.zeroGrads(); return m.forwardBackward(batch, 1 / N, new Rng(7)) / N; };
      f();
      const grads = m.params.map((p) => [Float64Array.from(p.ga), Float64Array.from(p.gb)]);
      let worst = 0;
      m.params.forEach((p, pi) => {
        if (pi % 3 !== 0 && p.layer !== config.numLayers - 1) return; // a spread of layers and projections
        [p.a, p.b].forEach((arr, w) => {
          for (const i of [0, 7, arr.length - 1]) worst = Math.max(worst, rel(centralDiff(f, arr, i, 1e-5), grads[pi][w][i], 1e-6));
        });
      });
      expect(worst).toBeLessThan(1e-5);
    });
  }
});
