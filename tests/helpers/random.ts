import { expect } from "vitest";
import { mulberry32 } from "../../inference/mulberry32";

/** A seeded PRNG (mulberry32), uniform in [0, 1): the same seed gives the same shapes and values on every run. */
export function rng(seed: number): () => number {
  const u32 = mulberry32(seed);
  return () => u32() / 4294967296;
}

/** n values uniform in [-scale, scale) */
export function randArray(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/**
 * |got - want| <= tol * max(1 + |want|, 0.1 * max|want|) everywhere (the second term allows for
 * fp32 rounding in sums that cancel to a value much smaller than the array's typical magnitude);
 * reports the first bad index.
 */
export function expectClose(got: Float32Array, want: Float32Array, tol = 1e-4): void {
  expect(got.length).toBe(want.length);
  let maxAbs = 0;
  for (let i = 0; i < want.length; i++) maxAbs = Math.max(maxAbs, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * Math.max(1 + Math.abs(want[i]), 0.1 * maxAbs))) {
      throw new Error(`mismatch at ${i}: got ${got[i]}, want ${want[i]} (err ${err})`);
    }
  }
}
