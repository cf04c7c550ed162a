import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { HostBackend } from "./backend";
import { checkWeight, dequantRow, type HostWeight, type WeightFormat } from "./tensor";

/**
 * The native C++ backend (build/Release/lora_kernels.node, sources in inference/native/).
 * Arguments are validated here, cheaply (types and lengths against the given dims), so a bad
 * call throws a TypeError/RangeError naming the argument instead of reaching C++.
 */

type B = HostBackend;
type F32 = Float32Array;

/**
 * The raw addon exports (same argument order as the Backend ops, weights as their arrays). The
 * matmul of each weight format is its own export; a build without one leaves that format out
 * of `weightFormats`.
 */
interface Addon {
  matmul(out: F32, x: F32, w: F32, m: number, k: number, n: number): void;
  matmulBf16(out: F32, x: F32, w: Uint16Array, m: number, k: number, n: number): void;
  matmulF16?(out: F32, x: F32, w: Uint16Array, m: number, k: number, n: number): void;
  matmulQ8?(out: F32, x: F32, qs: Int8Array, scales: Uint16Array, m: number, k: number, n: number): void;
  matmulQ4?(out: F32, x: F32, qs: Uint8Array, scales: Uint16Array, m: number, k: number, n: number): void;
  rmsNorm: B["rmsNorm"];
  rope: B["rope"];
  siluMul: B["siluMul"];
  addInPlace: B["addInPlace"];
  embed(out: F32, table: F32, ids: Int32Array, tokens: number, dim: number): void;
  kvWrite: B["kvWrite"];
  attention: B["attention"];
  lora: B["lora"];
  info(): { isa: string; bestIsa: string; threads: number; quantActivations?: "int8" | "f32" };
  setIsa(name: string): boolean;
  setQuantActivations?(mode: string): boolean;
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

/**
 * Which instruction set the kernels run with ("avx512vnni" | "avx512" | "avx2" | "generic"), how
 * many threads, and how q8/q4 matmuls treat activations ("int8": quantized per group of 32,
 * integer dot products, the default; "f32": kept f32, LORA_KERNELS_QACT=f32).
 */
export function nativeInfo(): { isa: string; bestIsa: string; threads: number; quantActivations?: "int8" | "f32" } {
  return loadAddon().info();
}

/** Switches the kernel build (tests exercise every path); false when this CPU lacks it. */
export function setNativeIsa(name: "avx512vnni" | "avx512" | "avx2" | "generic"): boolean {
  return loadAddon().setIsa(name);
}

/**
 * q8/q4 matmuls: "int8" quantizes each row of x per group of 32 and multiplies integers
 * (inference/native/qdot.inc; plain loop in ./int8-act.ts), "f32" keeps x in f32 (quant.inc, the
 * plain loop of tensor.ts). Per addon instance (thread); false for a build without the switch.
 */
export function setNativeQuantActivations(mode: "int8" | "f32"): boolean {
  const a = loadAddon();
  return a.setQuantActivations ? a.setQuantActivations(mode) : false;
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

/** embedding rows of a non-f32 table, each dequantized straight into out (ids range-checked) */
function embedRows(out: Float32Array, table: HostWeight, ids: Int32Array, tokens: number, d: number): void {
  for (let t = 0; t < tokens; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= table.rows) throw new RangeError(`embed: ids[${t}] = ${id} is outside the table of ${table.rows} rows`);
    dequantRow(table, id, out.subarray(t * d, (t + 1) * d));
  }
}

// --- backend ----------------------------------------------------------------------------

/** The addon, loaded on first use (so importing this module never throws). */
function A(): Addon {
  return addon ?? loadAddon();
}

/** The weight formats this build's matmul handles (f32 and bf16 always; others once built). */
function nativeFormats(): WeightFormat[] {
  const formats: WeightFormat[] = ["f32", "bf16"];
  let a: Addon | null = null;
  try {
    a = A();
  } catch {
    return formats; // not built: every op throws the load error anyway
  }
  if (a.matmulF16) formats.push("f16");
  if (a.matmulQ8) formats.push("q8");
  if (a.matmulQ4) formats.push("q4");
  return formats;
}

function unsupported(format: string): never {
  throw new TypeError(`matmul: this build of the native kernels has no ${format} kernel (rebuild with npm install)`);
}

/**
 * The native backend. Importing is safe without the build; the first op call throws the load
 * error then (use `nativeAvailable()` from ./index to check first). Tensors are host arrays:
 * uploads return their argument.
 */
export const nativeBackend: HostBackend = {
  name: "native",
  device: "cpu",
  get weightFormats() {
    return nativeFormats();
  },

  allocF32: (n) => new Float32Array(n),
  uploadF32: (src) => src,
  uploadI32: (src) => src,
  uploadWeight: (w) => w,
  readF32: (src, n) => src.subarray(0, n),
  release() {},

  matmul(out, x, w, m, k, n) {
    dim("matmul", "m", m);
    dim("matmul", "k", k);
    dim("matmul", "n", n);
    f32("matmul", "out", out, m * n);
    f32("matmul", "x", x, m * k);
    if (w.format === "f32") {
      // the hot path: no shape object checks beyond the array length
      f32("matmul", "w", w.data, n * k);
      A().matmul(out, x, w.data, m, k, n);
      return;
    }
    checkWeight("matmul: w", w, n, k);
    const a = A();
    switch (w.format) {
      case "bf16": a.matmulBf16(out, x, w.data, m, k, n); return;
      case "f16": (a.matmulF16 ?? unsupported("f16")).call(a, out, x, w.data, m, k, n); return;
      case "q8": (a.matmulQ8 ?? unsupported("q8")).call(a, out, x, w.qs, w.scales, m, k, n); return;
      case "q4": (a.matmulQ4 ?? unsupported("q4")).call(a, out, x, w.qs, w.scales, m, k, n); return;
    }
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
    i32("embed", "ids", ids, tokens);
    if (table.format === "f32") {
      f32("embed", "table", table.data, d);
      A().embed(out, table.data, ids, tokens, d); // ids are range-checked in C++ against the table
      return;
    }
    // other formats: tokens rows of dequantization per step, cheap next to the matmuls
    checkWeight("embed: table", table, undefined, d);
    embedRows(out, table, ids, tokens, d);
  },

  gatherRows(out, x, rows, count, d) {
    dim("gatherRows", "count", count);
    dim("gatherRows", "dim", d);
    f32("gatherRows", "out", out, count * d);
    i32("gatherRows", "rows", rows, count);
    for (let r = 0; r < count; r++) {
      const t = rows[r];
      if (!Number.isInteger(t) || t < 0 || (t + 1) * d > x.length) throw new RangeError(`gatherRows: rows[${r}] = ${t} is outside x`);
      out.set(x.subarray(t * d, (t + 1) * d), r * d);
    }
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
