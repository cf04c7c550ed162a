/**
 * out = x · Wᵀ for one row-range ("part") of W, f32 accumulation. The plain loop (backend.ts):
 *   for i<m, j<rows: out[i*nOut + j0 + j] = Σ_p x[i*k+p] * W[j, p]
 * A weight larger than the device's binding limit is split in parts of rows, each a dispatch
 * writing its own columns [j0, j0+rows) of out (row stride nOut).
 *
 * Two paths: GEMV for decode-sized m (≤ GEMV_MAX_M rows of x: one workgroup per weight row, the
 * weight row streamed once for all m rows — decode is bound by weight bytes), and a tiled GEMM
 * (64×64 output tile, 16-deep k tiles in workgroup memory, 4×4 outputs per thread) for prefill.
 */
import type { WeightFormat } from "../../kernels/tensor";
import { weightBindingCount, weightWgsl } from "./weights";

/**
 * Fusions (the model's residual add and SwiGLU folded into the matmul that follows them):
 *   accumulate: out[i, j] += Σ_p a[i, p] * W[j, p]   (instead of =: the residual add)
 *   silu:       a[i, p] = silu(x[i, p]) * up[i, p]   (x is the gate: SiLU·mul into down_proj's input)
 * otherwise a = x. `up` is the binding after the weight's.
 */
export interface MatmulFusion {
  accumulate: boolean;
  silu: boolean;
}
export const NO_FUSION: MatmulFusion = { accumulate: false, silu: false };

function fusionWgsl(format: WeightFormat, f: MatmulFusion): string {
  const upBinding = 3 + weightBindingCount(format);
  return f.silu
    ? `@group(0) @binding(${upBinding}) var<storage, read> up: array<f32>;
fn xin(e: u32) -> f32 { let g = x[e]; return g / (1.0 + exp(-g)) * up[e]; }`
    : `fn xin(e: u32) -> f32 { return x[e]; }`;
}
const store = (f: MatmulFusion) => (f.accumulate ? "+=" : "=");

export const GEMV_MAX_M = 8;
const GEMV_WG = 128;

const PARAMS = `struct Params { gx: u32, m: u32, k: u32, rows: u32, nOut: u32, j0: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;`;

/**
 * The GEMV inner loop per format: threads stride over the u32 words of weight row j (2 halves,
 * 4 int8 or 8 nibbles each) so each word is loaded once, adding w·x into acc[i] for i < m.
 * `dot(p, w)` accumulates element p of the row with value w.
 */
function gemvLoop(format: WeightFormat, lid = "lid", WG = "WG"): string {
  const add = (p: string, w: string) => `for (var i = 0u; i < M; i++) { if (i < P.m) { acc[i] += xin(i * P.k + ${p}) * ${w}; } }`;
  switch (format) {
    case "f32":
      return `for (var p = ${lid}; p < P.k; p += ${WG}) { let w = wdata[j * P.k + p]; ${add("p", "w")} }`;
    case "f16":
    case "bf16": {
      const unpack = format === "f16" ? "unpack2x16float(word)" : "vec2f(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u))";
      // element e = 2*wi (+1) of the whole matrix; row j holds e in [j*k, j*k + k)
      return `let e0 = j * P.k;
  for (var wi = (e0 >> 1u) + ${lid}; wi < ((e0 + P.k + 1u) >> 1u); wi += ${WG}) {
    let word = wdata[wi];
    let v = ${unpack};
    let e = wi * 2u;
    if (e >= e0) { let p = e - e0; ${add("p", "v.x")} }
    if (e + 1u < e0 + P.k) { let p = e + 1u - e0; ${add("p", "v.y")} }
  }`;
    }
    case "q8":
      // row j: G*8 words of 4 int8 each; word wi holds p = 4wi .. 4wi+3 of group wi/8
      return `let G = (P.k + 31u) / 32u;
  for (var wi = ${lid}; wi < G * 8u; wi += ${WG}) {
    let word = wdata[j * G * 8u + wi];
    let d = wscale(j * G + wi / 8u);
    for (var c = 0u; c < 4u; c++) {
      let p = wi * 4u + c;
      if (p < P.k) { let w = d * f32(bitcast<i32>(word << (24u - 8u * c)) >> 24u); ${add("p", "w")} }
    }
  }`;
    case "q4":
      // row j: G*4 words; word wi of group g = wi/4 holds bytes b = 4(wi%4) .. +3:
      // low nibbles are elements 32g+b, high nibbles 32g+b+16
      return `let G = (P.k + 31u) / 32u;
  for (var wi = ${lid}; wi < G * 4u; wi += ${WG}) {
    let word = wdata[j * G * 4u + wi];
    let g = wi / 4u;
    let d = wscale(j * G + g);
    let pb = 32u * g + 4u * (wi % 4u);
    for (var c = 0u; c < 4u; c++) {
      let byte = (word >> (8u * c)) & 0xffu;
      let p = pb + c;
      if (p < P.k) { let w = d * (f32(byte & 15u) - 8.0); ${add("p", "w")} }
      if (p + 16u < P.k) { let w = d * (f32(byte >> 4u) - 8.0); ${add("p + 16u", "w")} }
    }
  }`;
  }
}

/**
 * One workgroup per weight row j: threads stride over the row's words, m partial sums each.
 * M (1 or GEMV_MAX_M) is a compile-time bound so the sums stay in registers (lavapipe keeps a
 * dynamically indexed array in memory: 2-4x slower); rows i >= P.m are skipped.
 * With `subgroupSize` > 0 (adapters whose subgroups have one fixed size) a workgroup is exactly
 * one subgroup and the sums reduce with subgroupAdd: no workgroup barriers (which lavapipe runs
 * as coroutine switches); otherwise a tree reduction in workgroup memory.
 */
export function gemvWgsl(format: WeightFormat, subgroupSize: number, m: number, fusion: MatmulFusion = NO_FUSION): string {
  if (subgroupSize > 0) {
    return `enable subgroups;
${PARAMS}
const M = ${m}u;
${weightWgsl(format, 3)}
${fusionWgsl(format, fusion)}
@compute @workgroup_size(${subgroupSize})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = wid.y * P.gx + wid.x;
  if (j >= P.rows) { return; }
  var acc: array<f32, M>;
  ${gemvLoop(format, "lid", `${subgroupSize}u`)}
  for (var i = 0u; i < M; i++) {
    let total = subgroupAdd(acc[i]);
    if (lid == 0u && i < P.m) { out[i * P.nOut + P.j0 + j] ${store(fusion)} total; }
  }
}`;
  }
  return `${PARAMS}
${weightWgsl(format, 3)}
${fusionWgsl(format, fusion)}
const WG = ${GEMV_WG}u;
const M = ${m}u;
var<workgroup> red: array<f32, ${GEMV_WG * m}>;
@compute @workgroup_size(${GEMV_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = wid.y * P.gx + wid.x;
  if (j >= P.rows) { return; }
  var acc: array<f32, M>;
  ${gemvLoop(format)}
  for (var i = 0u; i < M; i++) { red[i * WG + lid] = acc[i]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var i = 0u; i < M; i++) { red[i * WG + lid] += red[i * WG + lid + s]; }
    }
    workgroupBarrier();
  }
  if (lid < P.m) { out[lid * P.nOut + P.j0 + j] ${store(fusion)} red[lid * WG]; }
}`;
}

export const GEMM_TILE = 64;

/** 64×64 tile of out per workgroup (16×16 threads, 4×4 outputs each), k in steps of 16 */
export function gemmWgsl(format: WeightFormat, fusion: MatmulFusion = NO_FUSION): string {
  return `${PARAMS}
${weightWgsl(format, 3)}
${fusionWgsl(format, fusion)}
const TM = 64u;
const TN = 64u;
const TK = 16u;
var<workgroup> As: array<f32, 1024>; // [kk][i] x tile
var<workgroup> Bs: array<f32, 1024>; // [kk][j] W tile, dequantized
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i0 = wid.y * TM;
  let jt = wid.x * TN;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < P.k; k0 += TK) {
    for (var e = li; e < TM * TK; e += 256u) {
      let r = e / TK;
      let c = e % TK;
      var a = 0.0;
      if (i0 + r < P.m && k0 + c < P.k) { a = xin((i0 + r) * P.k + k0 + c); }
      As[c * TM + r] = a;
      var b = 0.0;
      if (jt + r < P.rows && k0 + c < P.k) { b = wload(jt + r, k0 + c, P.k); }
      Bs[c * TN + r] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var r = 0u; r < 4u; r++) { a[r] = As[kk * TM + lid.y + 16u * r]; }
      for (var c = 0u; c < 4u; c++) { b[c] = Bs[kk * TN + lid.x + 16u * c]; }
      for (var r = 0u; r < 4u; r++) {
        for (var c = 0u; c < 4u; c++) { acc[r * 4u + c] += a[r] * b[c]; }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + lid.y + 16u * r;
    for (var c = 0u; c < 4u; c++) {
      let j = jt + lid.x + 16u * c;
      if (i < P.m && j < P.rows) { out[i * P.nOut + P.j0 + j] ${store(fusion)} acc[r * 4u + c]; }
    }
  }
}`;
}
