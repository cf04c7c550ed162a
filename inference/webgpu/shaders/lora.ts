/**
 * SGMV LoRA (Punica's shrink/expand over segments of tokens sharing an adapter), for the
 * segments whose A and B live in one pair of buffers (adapter weights are sub-allocated in
 * shared arenas, so usually all of them: one shrink and one expand dispatch per projection).
 * The plain loop (backend.ts), for each segment s and token t in it:
 *   h[t,i]  = Σ_p x[t,p] * A_s[i*k+p]                (i < r_s)  shrink
 *   y[t,j] += scale_s * Σ_i h[t,i] * B_s[j*r_s+i]    (j < n)    expand
 * The segment table (i32, in the backend's ring from word P.tbase on): [0] = segment count S; then per segment 6 words
 *   start, end, aOffset (floats into the A buffer), bOffset, rank, bitcast<i32>(scale);
 * then per token its segment row (-1 = not adapted by this dispatch). h: (tokens, maxRank).
 */
export const LORA_WG = 64;

/** one workgroup per (token, rank index): a WG-thread reduction over k */
export const LORA_SHRINK_WGSL = `struct Params { gx: u32, tokens: u32, k: u32, maxRank: u32, tbase: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> h: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> A: array<f32>;
@group(0) @binding(4) var<storage, read> ring: array<i32>;
var<workgroup> red: array<f32, ${LORA_WG}>;
@compute @workgroup_size(${LORA_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ti = wid.y * P.gx + wid.x;
  if (ti >= P.tokens * P.maxRank) { return; }
  let t = ti / P.maxRank;
  let i = ti % P.maxRank;
  let S = u32(ring[P.tbase]);
  let s = ring[P.tbase + 1u + 6u * S + t];
  if (s < 0) { return; }
  let row = P.tbase + 1u + 6u * u32(s);
  let rank = u32(ring[row + 4u]);
  if (i >= rank) { return; }
  let ao = u32(ring[row + 2u]) + i * P.k;
  var acc = 0.0;
  for (var p = lid; p < P.k; p += ${LORA_WG}u) { acc += x[t * P.k + p] * A[ao + p]; }
  red[lid] = acc;
  workgroupBarrier();
  for (var w = ${LORA_WG / 2}u; w > 0u; w >>= 1u) {
    if (lid < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { h[t * P.maxRank + i] = red[0]; }
}`;

/** one thread per (token, output j) */
export const LORA_EXPAND_WGSL = `struct Params { gx: u32, tokens: u32, n: u32, maxRank: u32, tbase: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> h: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read> ring: array<i32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gid = (wid.y * P.gx + wid.x) * 256u + lid;
  if (gid >= P.tokens * P.n) { return; }
  let t = gid / P.n;
  let j = gid % P.n;
  let S = u32(ring[P.tbase]);
  let s = ring[P.tbase + 1u + 6u * S + t];
  if (s < 0) { return; }
  let row = P.tbase + 1u + 6u * u32(s);
  let rank = u32(ring[row + 4u]);
  let bo = u32(ring[row + 3u]) + j * rank;
  var acc = 0.0;
  for (var i = 0u; i < rank; i++) { acc += h[t * P.maxRank + i] * B[bo + i]; }
  y[gid] += bitcast<f32>(ring[row + 5u]) * acc;
}`;
