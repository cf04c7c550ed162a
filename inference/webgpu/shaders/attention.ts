/**
 * Causal paged attention with GQA and an optional sliding window; one workgroup per (token,
 * head). The plain loop (backend.ts):
 *   for t, h: g = h / (numHeads/numKvHeads); p = positions[t]; lo = window ? max(0, p-window+1) : 0
 *     slot(j) = blockTables[seqIndex[t]*maxBlocksPerSeq + j/blockSize]*blockSize + j%blockSize
 *     s_j = scale * Σ_d q[t,h,d] * kCache[slot(j), g, d]          (lo <= j <= p)
 *     out[t,h,:] = Σ_j softmax(s)_j * vCache[slot(j), g, :]
 * Keys are visited in chunks of WG (one key per thread), with the running max and sum of the
 * online softmax (flash-attention style), so any context length fits in workgroup memory.
 */
export const ATTN_WG = 128;
/** the largest head dimension the kernel's workgroup arrays hold */
export const ATTN_MAX_HEAD_DIM = 256;

export const ATTENTION_WGSL = `struct Params {
  gx: u32, tokens: u32, numHeads: u32, numKvHeads: u32, headDim: u32,
  blockSize: u32, maxBlocksPerSeq: u32, window: u32, scale: f32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> kCache: array<f32>;
@group(0) @binding(4) var<storage, read> vCache: array<f32>;
@group(0) @binding(5) var<storage, read> blockTables: array<i32>;
@group(0) @binding(6) var<storage, read> seqIndex: array<i32>;
@group(0) @binding(7) var<storage, read> positions: array<i32>;
const WG = ${ATTN_WG}u;
var<workgroup> qv: array<f32, ${ATTN_MAX_HEAD_DIM}>;
var<workgroup> acc: array<f32, ${ATTN_MAX_HEAD_DIM}>;
var<workgroup> prob: array<f32, ${ATTN_WG}>;
var<workgroup> slotOf: array<u32, ${ATTN_WG}>;
var<workgroup> red: array<f32, ${ATTN_WG}>;
var<workgroup> span: vec2u; // [lo, p]

@compute @workgroup_size(${ATTN_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let th = wid.y * P.gx + wid.x;
  if (th >= P.tokens * P.numHeads) { return; }
  let t = th / P.numHeads;
  let h = th % P.numHeads;
  let g = h / (P.numHeads / P.numKvHeads);
  let hd = P.headDim;
  let kvWidth = P.numKvHeads * hd;
  let qo = t * P.numHeads * hd + h * hd;
  let tableRow = u32(seqIndex[t]) * P.maxBlocksPerSeq;
  if (lid == 0u) {
    let p = u32(positions[t]);
    var lo = 0u;
    if (P.window > 0u && p + 1u > P.window) { lo = p + 1u - P.window; }
    span = vec2u(lo, p);
  }
  for (var d = lid; d < hd; d += WG) { qv[d] = q[qo + d]; acc[d] = 0.0; }
  let bounds = workgroupUniformLoad(&span); // also the barrier that publishes qv
  let lo = bounds.x;
  let p = bounds.y;
  var runMax = -3.0e38;
  var runSum = 0.0;
  for (var j0 = lo; j0 <= p; j0 += WG) {
    let j = j0 + lid;
    var s = -3.0e38;
    if (j <= p) {
      let slot = u32(blockTables[tableRow + j / P.blockSize]) * P.blockSize + j % P.blockSize;
      slotOf[lid] = slot;
      let ko = slot * kvWidth + g * hd;
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot += qv[d] * kCache[ko + d]; }
      s = P.scale * dot;
    }
    red[lid] = s;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      if (lid < w) { red[lid] = max(red[lid], red[lid + w]); }
      workgroupBarrier();
    }
    let newMax = max(runMax, red[0]);
    workgroupBarrier();
    var e = 0.0;
    if (j <= p) { e = exp(s - newMax); }
    prob[lid] = e;
    red[lid] = e;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      if (lid < w) { red[lid] += red[lid + w]; }
      workgroupBarrier();
    }
    let alpha = exp(runMax - newMax);
    runSum = runSum * alpha + red[0];
    runMax = newMax;
    let count = min(WG, p + 1u - j0);
    for (var d = lid; d < hd; d += WG) {
      var a = acc[d] * alpha;
      for (var i = 0u; i < count; i++) { a += prob[i] * vCache[slotOf[i] * kvWidth + g * hd + d]; }
      acc[d] = a;
    }
    workgroupBarrier();
  }
  for (var d = lid; d < hd; d += WG) {
    out[qo + d] = select(0.0, acc[d] / runSum, runSum > 0.0);
  }
}`;
