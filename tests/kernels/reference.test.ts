import { describe, expect, it } from "vitest";
import { referenceBackend as ref } from "../../inference/kernels/reference";
import { getBackend } from "../../inference/kernels/index";
import { bf16ToF32, fromBf16, toBf16 } from "../../inference/kernels/bf16";
import { f32Weight as W, type HostWeight } from "../../inference/kernels/tensor";

const Wb = (data: Uint16Array, rows: number, cols: number): HostWeight => ({ format: "bf16", rows, cols, data });

// The reference backend on tiny cases computed by hand.

describe("reference backend", () => {
  it("is what getBackend('reference') returns", () => {
    expect(getBackend("reference")).toBe(ref);
  });

  it("matmul 2x2: out = x · Wᵀ", () => {
    const out = new Float32Array(4);
    // x = [[1, 2], [3, 4]], W = [[5, 6], [7, 8]] -> x·Wᵀ = [[17, 23], [39, 53]]
    ref.matmul(out, Float32Array.from([1, 2, 3, 4]), W(Float32Array.from([5, 6, 7, 8]), 2, 2), 2, 2, 2);
    expect(Array.from(out)).toEqual([17, 23, 39, 53]);
  });

  it("matmul (1,3)·(2,3)ᵀ", () => {
    const out = new Float32Array(2);
    ref.matmul(out, Float32Array.from([1, 0, -1]), W(Float32Array.from([2, 3, 4, 1, 1, 1]), 2, 3), 1, 3, 2);
    expect(Array.from(out)).toEqual([-2, 0]);
  });

  it("bf16: exact for short mantissas, round-to-nearest-even otherwise; matmulBf16 uses the widened weights", () => {
    expect(Array.from(toBf16(Float32Array.from([1, -2, 0.5, 0])))).toEqual([0x3f80, 0xc000, 0x3f00, 0]);
    // 1 + 2^-8 is exactly halfway between bf16 1 and 1 + 2^-7: ties to even (1)
    expect(bf16ToF32(toBf16(Float32Array.from([1 + 2 ** -8]))[0])).toBe(1);
    // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up
    expect(bf16ToF32(toBf16(Float32Array.from([1 + 3 * 2 ** -8]))[0])).toBe(1 + 2 ** -6);
    expect(Number.isNaN(fromBf16(toBf16(Float32Array.from([NaN])))[0])).toBe(true);
    const out = new Float32Array(2);
    ref.matmul(out, Float32Array.from([1, 2]), Wb(toBf16(Float32Array.from([5, 6, 7, 8])), 2, 2), 1, 2, 2);
    expect(Array.from(out)).toEqual([17, 23]);
  });

  it("rmsNorm: x = [3, 4] -> rms = sqrt(12.5)", () => {
    const out = new Float32Array(2);
    ref.rmsNorm(out, Float32Array.from([3, 4]), Float32Array.from([1, 2]), 1, 2, 0);
    const r = 1 / Math.sqrt(12.5);
    expect(out[0]).toBeCloseTo(3 * r, 6);
    expect(out[1]).toBeCloseTo(2 * 4 * r, 6);
  });

  it("rope at position 0 is the identity; at angle π/2 it rotates halves", () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // 1 token, 2 heads, headDim 4
    const before = x.slice();
    ref.rope(x, Int32Array.from([0]), Float32Array.from([1, 0.5]), 1, 2, 4);
    expect(x).toEqual(before);
    const y = Float32Array.from([1, 0, 0, 0]); // a = 1 (i=0), b = x[2] = 0
    ref.rope(y, Int32Array.from([1]), Float32Array.from([Math.PI / 2, 0]), 1, 1, 4);
    // i=0: a*c - b*s = cos(π/2) ≈ 0; b*c + a*s = sin(π/2) = 1
    expect(y[0]).toBeCloseTo(0, 6);
    expect(y[2]).toBeCloseTo(1, 6);
  });

  it("siluMul and addInPlace", () => {
    const out = new Float32Array(2);
    ref.siluMul(out, Float32Array.from([0, 1]), Float32Array.from([5, 2]), 2);
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo((1 / (1 + Math.exp(-1))) * 2, 6);
    const y = Float32Array.from([1, 2]);
    ref.addInPlace(y, Float32Array.from([10, 20]), 2);
    expect(Array.from(y)).toEqual([11, 22]);
  });

  it("embed and kvWrite", () => {
    const out = new Float32Array(4);
    ref.embed(out, W(Float32Array.from([0, 1, 10, 11, 20, 21]), 3, 2), Int32Array.from([2, 0]), 2, 2);
    expect(Array.from(out)).toEqual([20, 21, 0, 1]);
    const kc = new Float32Array(6);
    const vc = new Float32Array(6);
    ref.kvWrite(kc, vc, Float32Array.from([1, 2]), Float32Array.from([3, 4]), Int32Array.from([2]), 1, 2);
    expect(Array.from(kc)).toEqual([0, 0, 0, 0, 1, 2]);
    expect(Array.from(vc)).toEqual([0, 0, 0, 0, 3, 4]);
  });

  it("attention with one position returns v; two equal scores average v", () => {
    // 1 head, headDim 2, blockSize 2, the sequence lives in block 1 (slots 2, 3)
    const kc = Float32Array.from([9, 9, 9, 9, 1, 0, 1, 0]);
    const vc = Float32Array.from([9, 9, 9, 9, 2, 4, 6, 8]);
    const out = new Float32Array(2);
    const q = Float32Array.from([3, -1]);
    const table = Int32Array.from([1]);
    ref.attention(out, q, kc, vc, table, Int32Array.from([0]), Int32Array.from([0]), 1, 1, 1, 2, 2, 1, 0, 1);
    expect(Array.from(out)).toEqual([2, 4]);
    ref.attention(out, q, kc, vc, table, Int32Array.from([0]), Int32Array.from([1]), 1, 1, 1, 2, 2, 1, 0, 1);
    expect(Array.from(out)).toEqual([4, 6]); // equal keys -> equal weights
    // window 1: only the token's own position
    ref.attention(out, q, kc, vc, table, Int32Array.from([0]), Int32Array.from([1]), 1, 1, 1, 2, 2, 1, 1, 1);
    expect(Array.from(out)).toEqual([6, 8]);
  });

  it("lora: rank-1 adapter on one segment, none on the other", () => {
    // k = 2, n = 2; tokens 0 (adapter), 1 (null)
    const x = Float32Array.from([1, 2, 3, 4]);
    const y = Float32Array.from([0, 0, 100, 100]);
    const a = Float32Array.from([1, 1]); // (1, 2): h = x0 + x1 = 3
    const b = Float32Array.from([2, -1]); // (2, 1): y += scale * [2h, -h]
    ref.lora(y, x, 2, 2, Int32Array.from([0, 1, 2]), [a, null], [b, null], Int32Array.from([1, 0]), Float32Array.from([0.5, 9]));
    expect(Array.from(y)).toEqual([3, -1.5, 100, 100]);
  });
});
