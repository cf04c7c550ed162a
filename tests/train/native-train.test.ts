/**
 * The addon's training kernels (inference/native/train.inc) against the TypeScript loops they
 * must equal, in f32 on shapes that split into several tasks, and the whole model's f32 gradient
 * with the kernels against the same step run on the loops. The loops themselves are checked
 * against finite differences in f64 (grad-ops.test.ts).
 */
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PROJECTIONS } from "../../inference/adapters/lora-weights";
import { loadAddon } from "../../inference/kernels/native";
import { LoraTrainModel } from "../../inference/train/lora-model";
import { gemm, gemmLoop } from "../../inference/train/matmul";
import { setForceLoop, trainAddon } from "../../inference/train/native-train";
import { crossEntropy, loraDropBackward, loraDropForward, rmsNormBackward, rmsNormForward, rope, siluMulBackward, siluMulForward } from "../../inference/train/ops";
import { axpy, Rng } from "../../inference/train/tensor";
import { FIXTURES, fixtureModel, packSequences, randomFill } from "./helpers";

const f32 = (n: number, seed: number, scale = 1) => Float32Array.from(randomFill(new Float64Array(n), seed, scale));

/** max |a − b| over the elements / max |b| (f32 rounding is relative to the operands' size) */
function worstRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let w = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    w = Math.max(w, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  expect(s).toBeGreaterThan(0);
  return w / s;
}

/** runs f with the kernels, then with the loops on copies of the same inputs */
function both<T>(f: () => T): [T, T] {
  const a = f();
  setForceLoop(true);
  try {
    return [a, f()];
  } finally {
    setForceLoop(false);
  }
}

afterEach(() => setForceLoop(false));

describe("native training kernels = the TypeScript loops (f32)", () => {
  it("the addon has them", () => {
    expect(trainAddon()).not.toBeNull();
  });

  it("gemm: nt, nn and tn layouts, with and without accumulation and a scale", () => {
    for (const [m, k, n] of [[37, 29, 19], [1728, 16, 256], [256, 1728, 16], [16, 1728, 768], [5, 1, 3]]) {
      for (const layout of ["nt", "nn", "tn"] as const) {
        const a = f32(m * k, m + k), b = f32(k * n, n + 3);
        for (const [alpha, acc] of [[1, false], [0.37, true]] as const) {
          const out = f32(m * n, 5), ref = Float64Array.from(out);
          gemm(layout, out, a, b, m, k, n, alpha, acc);
          gemmLoop(layout, ref, Float64Array.from(a), Float64Array.from(b), m, k, n, alpha, acc);
          expect(worstRel(out, ref), `${layout} ${m}×${k}×${n} acc=${acc}`).toBeLessThan(1e-5);
        }
      }
    }
  });

  it("RMSNorm forward and backward", () => {
    const rows = 300, dim = 256;
    const x = f32(rows * dim, 1), w = f32(dim, 2), dy = f32(rows * dim, 3);
    const [n, l] = both(() => {
      const y = new Float32Array(rows * dim), rstd = new Float32Array(rows), dx = f32(rows * dim, 4);
      rmsNormForward(y, rstd, x, w, rows, dim, 1e-5);
      rmsNormBackward(dx, dy, x, w, rstd, rows, dim);
      return [y, rstd, dx];
    });
    n.forEach((v, i) => expect(worstRel(v, l[i])).toBeLessThan(1e-4));
  });

  it("SiLU·mul forward and backward", () => {
    const N = 70_001;
    const g = f32(N, 1, 12), u = f32(N, 2), d = f32(N, 3);
    const [n, l] = both(() => {
      const out = new Float32Array(N), sig = new Float32Array(N), dg = new Float32Array(N), du = new Float32Array(N);
      siluMulForward(out, sig, g, u, N);
      siluMulBackward(dg, du, d, g, u, sig, N);
      return [out, sig, dg, du];
    });
    n.forEach((v, i) => expect(worstRel(v, l[i])).toBeLessThan(1e-5));
  });

  it("RoPE forward and inverse (the backward)", () => {
    const T = 100, nH = 8, d = 32;
    const pos = Int32Array.from({ length: T }, (_, i) => (i * 7) % 60);
    const inv = Float32Array.from({ length: d / 2 }, (_, i) => Math.pow(10000, (-2 * i) / d));
    const x = f32(T * nH * d, 1);
    const [n, l] = both(() => {
      const a = Float32Array.from(x), b = Float32Array.from(x);
      rope(a, pos, inv, T, nH, d);
      rope(b, pos, inv, T, nH, d, true);
      return [a, b];
    });
    n.forEach((v, i) => expect(worstRel(v, l[i])).toBeLessThan(1e-5));
  });

  it("cross-entropy: the loss and the weighted dlogits", () => {
    const R = 9, V = 4096;
    const logits = f32(R * V, 1, 8), targets = Int32Array.from({ length: R }, (_, i) => (i * 977) % V);
    const [n, l] = both(() => {
      const x = Float32Array.from(logits);
      return [crossEntropy(x, targets, R, V, 0.25), x] as const;
    });
    expect(Math.abs(n[0] - l[0]) / l[0]).toBeLessThan(1e-5);
    expect(worstRel(n[1], l[1])).toBeLessThan(1e-5);
  });

  it("LoRA dropout corrections and axpy", () => {
    const T = 50, k = 64, r = 16;
    const x = f32(T * k, 1), a = f32(r * k, 2), dh = f32(T * r, 3), y = f32(T * k, 4);
    const drops = Int32Array.from([0, 5, 64, 700, T * k - 1]);
    const [n, l] = both(() => {
      const h = f32(T * r, 5), ga = f32(r * k, 6), dxl = f32(T * k, 7), yy = Float32Array.from(y);
      loraDropForward(h, x, a, drops, k, r);
      loraDropBackward(ga, dxl, dh, x, drops, k, r, 1.25);
      axpy(yy, 0.5, x, T * k);
      return [h, ga, dxl, yy];
    });
    n.forEach((v, i) => expect(worstRel(v, l[i])).toBeLessThan(1e-5));
  });

  it("bad indices are refused, not read", () => {
    const addon = loadAddon() as unknown as Record<string, (...a: unknown[]) => void>;
    const q = new Float32Array(4 * 2), k = new Float32Array(4 * 2);
    expect(() => addon.trAttnFwd(new Float32Array(8), new Float32Array(4), q, k, k, Int32Array.from([0, 9]), 1, 1, 2, 0, 1)).toThrow(/seqStarts out of range/);
    expect(() => addon.trDropFwd(new Float32Array(4), new Float32Array(8), new Float32Array(8), Int32Array.from([8]), 4, 2)).toThrow(/index out of range/);
    expect(() => addon.trCrossEntropy(new Float32Array(8), Int32Array.from([8]), new Float64Array(1), 1, 8, 1)).toThrow(/target out of range/);
  });
});

describe("whole-model f32 step: kernels = loops", () => {
  for (const fx of ["tiny-mistral", "tiny-llama3"]) {
    it(`${fx}: loss and every A/B gradient, dropout on`, async () => {
      const { config, weights } = await fixtureModel(path.join(FIXTURES, fx, "base"));
      const V = config.vocabSize;
      const batch = packSequences([[1, 5, 9, 33, 7, 120, 2], Array.from({ length: 30 }, (_, i) => (i * 37 + 1) % V), [1, 44, 2]], [3, 20, 1]);
      const [n, l] = both(() => {
        const m = new LoraTrainModel(config, weights, { r: 8, alpha: 16, dropout: 0.1, targets: PROJECTIONS });
        m.params.forEach((p, i) => { randomFill(p.a, 10 + i, 0.3); randomFill(p.b, 100 + i, 0.3); });
        const loss = m.forwardBackward(batch, 1 / batch.targets.length, new Rng(7));
        return { loss, grads: m.params.flatMap((p) => [Float32Array.from(p.ga), Float32Array.from(p.gb)]) };
      });
      expect(Math.abs(n.loss - l.loss) / l.loss).toBeLessThan(1e-5);
      let worst = 0, scale = 0;
      n.grads.forEach((g, i) => { for (let j = 0; j < g.length; j++) { worst = Math.max(worst, Math.abs(g[j] - l.grads[i][j])); scale = Math.max(scale, Math.abs(l.grads[i][j])); } });
      expect(scale).toBeGreaterThan(0);
      expect(worst / scale).toBeLessThan(1e-4);
    });
  }
});
