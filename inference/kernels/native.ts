import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Backend } from "./backend";

/**
 * The native C++ backend (build/Release/lora_kernels.node, sources in inference/native/).
 * Arguments are validated here, cheaply (types and lengths against the given dims), so a bad
 * call throws a TypeError/RangeError naming the argument instead of reaching C++.
 */

/** The raw addon exports (same argument order as Backend). */
interface Addon {
  matmul: Backend["matmul"];
  matmulBf16: NonNullable<Backend["matmulBf16"]>;
  rmsNorm: Backend["rmsNorm"];
  rope: Backend["rope"];
  siluMul: Backend["siluMul"];
  addInPlace: Backend["addInPlace"];
  embed: Backend["embed"];
  kvWrite: Backend["kvWrite"];
  attention: Backend["attention"];
  lora: Backend["lora"];
  info(): { isa: string; bestIsa: string; threads: number };
  setIsa(name: string): boolean;
}

/** The repository root: the nearest ancestor of this file holding package.json. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "package.json")) && existsSync(path.join(dir, "binding.gyp"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd(); // not found (e.g. bundled): assume we run from the root
    dir = up;
  }
}

export const ADDON_PATH = path.join(repoRoot(), "build", "Release", "lora_kernels.node");

let addon: Addon | null = null;
let loadError: Error | null = null;

/** Loads the addon once; throws the load error (missing build, bad binary) on every call after. */
export function loadAddon(): Addon {
  if (addon) return addon;
  if (loadError) throw loadError;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    return addon;
  } catch (e) {
    loadError = new Error(`native kernels: cannot load ${ADDON_PATH}: ${(e as Error).message}`);
    throw loadError;
  }
}

/** Which instruction set the kernels run with ("avx512" | "avx2" | "generic") and how many threads. */
export function nativeInfo(): { isa: string; bestIsa: string; threads: number } {
  return loadAddon().info();
}

/** Switches the kernel build (tests exercise every path); false when this CPU lacks it. */
export function setNativeIsa(name: "avx512" | "avx2" | "generic"): boolean {
  return loadAddon().setIsa(name);
}

// --- validation -------------------------------------------------------------------------

function f32(op: string, name: string, v: unknown, need: number): asserts v is Float32Array {
  if (!(v instanceof Float32Array)) throw new TypeError(`${op}: ${name} must be a Float32Array`);
  if (v.length < need) throw new RangeError(`${op}: ${name} has ${v.length} elements, needs at least ${need}`);
}

function i32(op: string, name: string, v: unknown, need: number): asserts v is Int32Array {
  if (!(v instanceof Int32Array)) throw new TypeError(`${op}: ${name} must be an Int32Array`);
  if (v.length < need) throw new RangeError(`${op}: ${name} has ${v.length} elements, needs at least ${need}`);
}

function dim(op: string, name: string, v: unknown, positive = false): asserts v is number {
  if (typeof v !== "number") throw new TypeError(`${op}: ${name} must be a number`);
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff || (positive && v === 0)) {
    throw new RangeError(`${op}: ${name} must be a ${positive ? "positive" : "non-negative"} integer, got ${v}`);
  }
}

function real(op: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new TypeError(`${op}: ${name} must be a finite number`);
}

// --- backend ----------------------------------------------------------------------------

/** The addon, loaded on first use (so importing this module never throws). */
function A(): Addon {
  return addon ?? loadAddon();
}

/**
 * The native backend. Importing is safe without the build; the first op call throws the load
 * error then (use `nativeAvailable()` from ./index to check first).
 */
export const nativeBackend: Backend = {
  name: "native",

  matmul(out, x, w, m, k, n) {
    dim("matmul", "m", m);
    dim("matmul", "k", k);
    dim("matmul", "n", n);
    f32("matmul", "out", out, m * n);
    f32("matmul", "x", x, m * k);
    f32("matmul", "w", w, n * k);
    A().matmul(out, x, w, m, k, n);
  },

  matmulBf16(out, x, w, m, k, n) {
    dim("matmulBf16", "m", m);
    dim("matmulBf16", "k", k);
    dim("matmulBf16", "n", n);
    f32("matmulBf16", "out", out, m * n);
    f32("matmulBf16", "x", x, m * k);
    if (!(w instanceof Uint16Array)) throw new TypeError("matmulBf16: w must be a Uint16Array (bf16 bits)");
    if (w.length < n * k) throw new RangeError(`matmulBf16: w has ${w.length} elements, needs at least ${n * k}`);
    A().matmulBf16(out, x, w, m, k, n);
  },

  rmsNorm(out, x, weight, rows, d, eps) {
    dim("rmsNorm", "rows", rows);
    dim("rmsNorm", "dim", d);
    real("rmsNorm", "eps", eps);
    f32("rmsNorm", "out", out, rows * d);
    f32("rmsNorm", "x", x, rows * d);
    f32("rmsNorm", "weight", weight, d);
    A().rmsNorm(out, x, weight, rows, d, eps);
  },

  rope(x, positions, invFreq, tokens, numHeads, headDim) {
    dim("rope", "tokens", tokens);
    dim("rope", "numHeads", numHeads);
    dim("rope", "headDim", headDim);
    if (headDim % 2 !== 0) throw new RangeError(`rope: headDim must be even, got ${headDim}`);
    f32("rope", "x", x, tokens * numHeads * headDim);
    i32("rope", "positions", positions, tokens);
    f32("rope", "invFreq", invFreq, headDim / 2);
    A().rope(x, positions, invFreq, tokens, numHeads, headDim);
  },

  siluMul(out, gate, up, n) {
    dim("siluMul", "n", n);
    f32("siluMul", "out", out, n);
    f32("siluMul", "gate", gate, n);
    f32("siluMul", "up", up, n);
    A().siluMul(out, gate, up, n);
  },

  addInPlace(y, x, n) {
    dim("addInPlace", "n", n);
    f32("addInPlace", "y", y, n);
    f32("addInPlace", "x", x, n);
    A().addInPlace(y, x, n);
  },

  embed(out, table, ids, tokens, d) {
    dim("embed", "tokens", tokens);
    dim("embed", "dim", d, true);
    f32("embed", "out", out, tokens * d);
    f32("embed", "table", table, d);
    i32("embed", "ids", ids, tokens);
    A().embed(out, table, ids, tokens, d); // ids are range-checked in C++ against the table
  },

  kvWrite(kCache, vCache, k, v, slots, tokens, kvDim) {
    dim("kvWrite", "tokens", tokens);
    dim("kvWrite", "kvDim", kvDim, true);
    f32("kvWrite", "kCache", kCache, kvDim);
    f32("kvWrite", "vCache", vCache, kvDim);
    f32("kvWrite", "k", k, tokens * kvDim);
    f32("kvWrite", "v", v, tokens * kvDim);
    i32("kvWrite", "slots", slots, tokens);
    A().kvWrite(kCache, vCache, k, v, slots, tokens, kvDim); // slots are range-checked in C++
  },

  attention(out, q, kCache, vCache, blockTables, seqIndex, positions, tokens, numHeads, numKvHeads, headDim, blockSize, maxBlocksPerSeq, window, scale) {
    const op = "attention";
    dim(op, "tokens", tokens);
    dim(op, "numHeads", numHeads, true);
    dim(op, "numKvHeads", numKvHeads, true);
    dim(op, "headDim", headDim, true);
    dim(op, "blockSize", blockSize, true);
    dim(op, "maxBlocksPerSeq", maxBlocksPerSeq, true);
    dim(op, "window", window);
    real(op, "scale", scale);
    if (numHeads % numKvHeads !== 0) {
      throw new RangeError(`${op}: numHeads (${numHeads}) must be a multiple of numKvHeads (${numKvHeads})`);
    }
    const qWidth = numHeads * headDim;
    const kvWidth = numKvHeads * headDim;
    f32(op, "out", out, tokens * qWidth);
    f32(op, "q", q, tokens * qWidth);
    f32(op, "kCache", kCache, kvWidth);
    f32(op, "vCache", vCache, kvWidth);
    i32(op, "blockTables", blockTables, maxBlocksPerSeq);
    i32(op, "seqIndex", seqIndex, tokens);
    i32(op, "positions", positions, tokens);
    // Block ids, sequence rows and positions are range-checked in C++ as they are used.
    A().attention(out, q, kCache, vCache, blockTables, seqIndex, positions, tokens, numHeads, numKvHeads, headDim, blockSize, maxBlocksPerSeq, window, scale);
  },

  lora(y, x, k, n, segStarts, as, bs, ranks, scales) {
    const op = "lora";
    dim(op, "k", k);
    dim(op, "n", n);
    i32(op, "segStarts", segStarts, 0);
    const segs = Math.max(0, segStarts.length - 1);
    if (!Array.isArray(as) || !Array.isArray(bs)) throw new TypeError(`${op}: a and b must be arrays`);
    if (as.length < segs || bs.length < segs) {
      throw new RangeError(`${op}: ${segs} segments but ${as.length} a and ${bs.length} b entries`);
    }
    i32(op, "ranks", ranks, segs);
    f32(op, "scales", scales, segs);
    if (segs === 0) return;
    if (segStarts[0] < 0) throw new RangeError(`${op}: segStarts[0] must be >= 0, got ${segStarts[0]}`);
    for (let s = 0; s < segs; s++) {
      if (segStarts[s + 1] < segStarts[s]) throw new RangeError(`${op}: segStarts must be non-decreasing (at ${s + 1})`);
      const A = as[s];
      const B = bs[s];
      if (A === null || B === null) continue;
      const r = ranks[s];
      if (r < 0) throw new RangeError(`${op}: ranks[${s}] must be >= 0, got ${r}`);
      f32(op, `a[${s}]`, A, r * k);
      f32(op, `b[${s}]`, B, n * r);
    }
    const tokens = segStarts[segs];
    f32(op, "y", y, tokens * n);
    f32(op, "x", x, tokens * k);
    A().lora(y, x, k, n, segStarts, as, bs, ranks, scales);
  },
};
