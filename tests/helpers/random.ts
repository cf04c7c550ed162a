import { expect } from "vitest";

/** A seeded PRNG (mulberry32): the same seed gives the same shapes and values on every run. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
