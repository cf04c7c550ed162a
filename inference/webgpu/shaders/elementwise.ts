/**
 * The small ops, each the plain loop of its doc comment in ../../kernels/backend.ts. Each WGSL
 * entry runs one thread per output element (or one workgroup per row), over a 2-D grid of
 * workgroups (`P.gx` groups per grid row) so any size fits the 65535-per-dimension limit.
 *
 * WebGPU forbids binding one buffer as writable and read-only in the same dispatch, so ops whose
 * output may alias an input (rmsNorm's out = x, siluMul's out = gate) have an in-place variant.
 */
import type { WeightFormat } from "../../kernels/tensor";
import { weightWgsl } from "./weights";

export const EW_WG = 256;

/** global thread index of a 1-D op over a 2-D grid */
const GID = `let gid = (wid.y * P.gx + wid.x) * ${EW_WG}u + lid;`;
const ENTRY = `@compute @workgroup_size(${EW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32)`;

/**
 * RMSNorm, one workgroup per row:
 *   r = 1/sqrt(mean_j(x[i,j]^2) + eps); out[i,j] = weight[j] * (x[i,j] * r)
 * inPlace: out is x (binding 1 read and written), weight is binding 2.
 */
export function rmsNormWgsl(inPlace: boolean): string {
  const src = inPlace ? "out" : "x";
  return `struct Params { gx: u32, rows: u32, dim: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${inPlace ? "" : "@group(0) @binding(3) var<storage, read> x: array<f32>;"}
@group(0) @binding(2) var<storage, read> weight: array<f32>;
var<workgroup> red: array<f32, ${EW_WG}>;
${ENTRY} {
  let row = wid.y * P.gx + wid.x;
  if (row >= P.rows) { return; }
  let o = row * P.dim;
  var ss = 0.0;
  for (var j = lid; j < P.dim; j += ${EW_WG}u) { let v = ${src}[o + j]; ss += v * v; }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = ${EW_WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = 1.0 / sqrt(red[0] / f32(P.dim) + P.eps);
  for (var j = lid; j < P.dim; j += ${EW_WG}u) { out[o + j] = weight[j] * (${src}[o + j] * r); }
}`;
}

/**
 * Rotary embedding in place (HF rotate_half), one thread per (t, h, i < half):
 *   f = positions[t] * invFreq[i]; a = x[t,h,i]; b = x[t,h,i+half]
 *   x[t,h,i] = a*cos(f) - b*sin(f); x[t,h,i+half] = b*cos(f) + a*sin(f)
 * f is reduced to [-π, π] first (Cody–Waite, 2π = C1 + C2 with C1 exact in 8 bits): GPU sin/cos
 * are only specified to 2^-11 inside [-π, π], and positions reach thousands of radians.
 */
export const ROPE_WGSL = `struct Params { gx: u32, tokens: u32, numHeads: u32, headDim: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<i32>;
@group(0) @binding(3) var<storage, read> invFreq: array<f32>;
${ENTRY} {
  ${GID}
  let half = P.headDim / 2u;
  if (gid >= P.tokens * P.numHeads * half) { return; }
  let i = gid % half;
  let th = gid / half;
  let h = th % P.numHeads;
  let t = th / P.numHeads;
  let f = f32(positions[t]) * invFreq[i];
  let n = round(f * 0.15915494309189535);
  let red = (f - n * 6.28125) - n * 0.0019353071795864769;
  let c = cos(red);
  let s = sin(red);
  let o = t * P.numHeads * P.headDim + h * P.headDim;
  let a = x[o + i];
  let b = x[o + i + half];
  x[o + i] = a * c - b * s;
  x[o + i + half] = b * c + a * s;
}`;

/**
 * SwiGLU: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
 * alias "gate": out is gate; "up": out is up; "none": three buffers.
 */
export function siluMulWgsl(alias: "none" | "gate" | "up"): string {
  const g = alias === "gate" ? "out" : "gate";
  const u = alias === "up" ? "out" : "up";
  return `struct Params { gx: u32, n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${alias === "gate" ? "" : "@group(0) @binding(2) var<storage, read> gate: array<f32>;"}
${alias === "up" ? "" : `@group(0) @binding(${alias === "gate" ? 2 : 3}) var<storage, read> up: array<f32>;`}
${ENTRY} {
  ${GID}
  if (gid >= P.n) { return; }
  let g = ${g}[gid];
  out[gid] = (g / (1.0 + exp(-g))) * ${u}[gid];
}`;
}

/** y[i] += x[i] (self: y[i] += y[i]) */
export function addWgsl(self: boolean): string {
  return `struct Params { gx: u32, n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
${self ? "" : "@group(0) @binding(2) var<storage, read> x: array<f32>;"}
${ENTRY} {
  ${GID}
  if (gid >= P.n) { return; }
  y[gid] += ${self ? "y" : "x"}[gid];
}`;
}

/**
 * Embedding gather from one part (rows [row0, row0+rows)) of a table in any weight format:
 *   for t<tokens, j<dim with row0 <= ids[t] < row0+rows: out[t*dim + j] = W[ids[t] - row0, j]
 */
export function embedWgsl(format: WeightFormat): string {
  return `struct Params { gx: u32, tokens: u32, dim: u32, row0: u32, rows: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
${weightWgsl(format, 3)}
${ENTRY} {
  ${GID}
  if (gid >= P.tokens * P.dim) { return; }
  let t = gid / P.dim;
  let j = gid % P.dim;
  let id = ids[t] - i32(P.row0);
  if (id < 0 || id >= i32(P.rows)) { return; }
  out[gid] = wload(u32(id), j, P.dim);
}`;
}

/** for r<count, j<dim: out[r*dim + j] = x[rows[r]*dim + j] */
export const GATHER_ROWS_WGSL = `struct Params { gx: u32, count: u32, dim: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> rows: array<i32>;
${ENTRY} {
  ${GID}
  if (gid >= P.count * P.dim) { return; }
  let r = gid / P.dim;
  out[gid] = x[u32(rows[r]) * P.dim + gid % P.dim];
}`;

/** paged KV write: for t<tokens, j<kvDim: kCache[slots[t]*kvDim + j] = k[t*kvDim + j]; same for v */
export const KV_WRITE_WGSL = `struct Params { gx: u32, tokens: u32, kvDim: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(2) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> slots: array<i32>;
${ENTRY} {
  ${GID}
  if (gid >= P.tokens * P.kvDim) { return; }
  let t = gid / P.kvDim;
  let dst = u32(slots[t]) * P.kvDim + gid % P.kvDim;
  kCache[dst] = k[gid];
  vCache[dst] = v[gid];
}`;
