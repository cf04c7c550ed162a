/**
 * Host tensors of the training engine: row-major Float32Array (training) or Float64Array (the
 * finite-difference gradient checks), the same code for both. `(a, b)` in a shape comment means
 * a rows of b numbers.
 */
import { nativeFor } from "./native-train";
import { mulberry32 } from "../mulberry32";

export type Buf = Float32Array | Float64Array;
export type Dtype = "f32" | "f64";

export function alloc(dtype: Dtype, n: number): Buf {
  return dtype === "f32" ? new Float32Array(n) : new Float64Array(n);
}

export function like(x: Buf, n = x.length): Buf {
  return x instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

/** A copy of src in the given dtype. */
export function cast(src: ArrayLike<number>, dtype: Dtype): Buf {
  return dtype === "f32" ? Float32Array.from(src) : Float64Array.from(src);
}

/**
 * out (cols, rows) = xᵀ for x (rows, cols):  out[j*rows + i] = x[i*cols + j].
 * Blocked so that both sides stay in cache.
 */
export function transpose(out: Buf, x: Buf, rows: number, cols: number): Buf {
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const xo = i * cols;
        for (let j = j0; j < j1; j++) out[j * rows + i] = x[xo + j];
      }
    }
  }
  return out;
}

/** y[i] += a * x[i] for i < n (f32 and large: the addon's kernel on its threads) */
export function axpy(y: Buf, a: number, x: Buf, n = y.length): void {
  if (n >= 4096) {
    const nat = nativeFor(y, x);
    if (nat) return nat.trAxpy(y as Float32Array, a, x as Float32Array, n);
  }
  for (let i = 0; i < n; i++) y[i] += a * x[i];
}

/**
 * A small seeded generator (SplitMix32 for the seed, Mulberry32 steps): reproducible runs need
 * every random choice (LoRA init, shuffle, split, dropout) to come from the seed.
 */
export class Rng {
  private readonly u32: () => number;
  constructor(seed: number) {
    let z = (seed >>> 0) + 0x9e3779b9;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.u32 = mulberry32(z ^ (z >>> 16));
  }

  /** derived stream for (seed, a, b): independent of how much other streams consumed */
  static derive(seed: number, a: number, b = 0): Rng {
    return new Rng((Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(a + 1, 0x165667b1) + Math.imul(b + 1, 0x9e3779b1)) >>> 0);
  }

  /** uniform in [0, 1) */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Fisher–Yates shuffle in place */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}
