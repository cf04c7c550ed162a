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
import { weightWgsl } from "./weights";

export const GEMV_MAX_M = 8;
const GEMV_WG = 128;

const PARAMS = `struct Params { gx: u32, m: u32, k: u32, rows: u32, nOut: u32, j0: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;`;

/** one workgroup per weight row j: threads stride over k, m partial sums each, tree-reduced */
export function gemvWgsl(format: WeightFormat): string {
  return `${PARAMS}
${weightWgsl(format, 3)}
const WG = ${GEMV_WG}u;
const MAXM = ${GEMV_MAX_M}u;
var<workgroup> red: array<f32, ${GEMV_WG * GEMV_MAX_M}>;
@compute @workgroup_size(${GEMV_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = wid.y * P.gx + wid.x;
  if (j >= P.rows) { return; }
  var acc: array<f32, ${GEMV_MAX_M}>;
  for (var p = lid; p < P.k; p += WG) {
    let w = wload(j, p, P.k);
    for (var i = 0u; i < P.m; i++) { acc[i] += x[i * P.k + p] * w; }
  }
  for (var i = 0u; i < P.m; i++) { red[i * WG + lid] = acc[i]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var i = 0u; i < P.m; i++) { red[i * WG + lid] += red[i * WG + lid + s]; }
    }
    workgroupBarrier();
  }
  if (lid < P.m) { out[lid * P.nOut + P.j0 + j] = red[lid * WG]; }
}`;
}

export const GEMM_TILE = 64;

/** 64×64 tile of out per workgroup (16×16 threads, 4×4 outputs each), k in steps of 16 */
export function gemmWgsl(format: WeightFormat): string {
  return `${PARAMS}
${weightWgsl(format, 3)}
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
      if (i0 + r < P.m && k0 + c < P.k) { a = x[(i0 + r) * P.k + k0 + c]; }
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
      if (i < P.m && j < P.rows) { out[i * P.nOut + P.j0 + j] = acc[r * 4u + c]; }
    }
  }
}`;
}
