/**
 * Sampling on the device, one workgroup per logits row, so only a row's summary comes back
 * (8 + 2·SAMPLE_MAX_CANDIDATES floats, not the vocabulary). For row r, V = vocab, l = logits[r, :]:
 *   argmax = the id of the largest l (the lowest id on ties); max = l[argmax]
 *   logZ   = max + log Σ_j exp(l[j] - max)                       (the raw distribution's normalizer)
 *   sumT   = Σ_j exp((l[j] - max) · invT)                        (top_p's mass denominator)
 *   cand   = the C best (id, l) by l descending, ties to the lower id (C = rowParams[r].count)
 *   drawn  = when u >= 0: with e_j = exp((l[j] - max) · invT) and r = u · Σ e, the first id j
 *            (in id order) whose running sum Σ_{i<=j} e_i exceeds r; rounding past the end gives
 *            the last id with e_j > 0 — the CPU sampler's draw without truncation (engine/sampler.ts)
 * Sums are f32 here and f64 on the CPU: a draw can differ only when r lies within float rounding
 * of a boundary. NaN logits are not supported (the CPU sampler skips them).
 * Out row layout (f32 words; ids bit-cast from i32): [argmax, max, logZ, sumT, drawn, l[drawn], 0, 0,
 * ids[SAMPLE_MAX_CANDIDATES], logits[SAMPLE_MAX_CANDIDATES]].
 */
export const SAMPLE_MAX_CANDIDATES = 64;
export const SAMPLE_HEAD = 8;
export const SAMPLE_ROW_FLOATS = SAMPLE_HEAD + 2 * SAMPLE_MAX_CANDIDATES;
const WG = 256;

export const SAMPLE_WGSL = `struct Params { gx: u32, rows: u32, vocab: u32, pad: u32 }
struct RowParams { invT: f32, u: f32, count: u32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> rowParams: array<RowParams>;
var<workgroup> rv: array<f32, ${WG}>;
var<workgroup> ri: array<i32, ${WG}>;
var<workgroup> rs: array<f32, ${WG}>;
var<workgroup> wCount: u32;
var<workgroup> wDraw: u32;

// (v, i) comes before (bv, bi): a larger value, or an equal one at a lower id; bi < 0 is "none"
fn before(v: f32, i: i32, bv: f32, bi: i32) -> bool {
  return i >= 0 && (bi < 0 || v > bv || (v == bv && i < bi));
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * P.gx + wid.x;
  let live = row < P.rows;
  let V = P.vocab;
  let o = row * V;
  let so = row * ${SAMPLE_ROW_FLOATS}u;
  var rp = RowParams(1.0, -1.0, 0u, 0u);
  if (live) { rp = rowParams[row]; }
  if (lid == 0u) { wCount = max(rp.count, 1u); wDraw = select(0u, 1u, rp.u >= 0.0); }
  let count = workgroupUniformLoad(&wCount);
  let draw = workgroupUniformLoad(&wDraw);

  // candidates by rounds: round c takes the best (value, id) after candidate c-1 in the order
  var pv = 0.0;
  var pi = -1;
  var mx = 0.0;
  var amax = 0;
  for (var c = 0u; c < count; c++) {
    var bv = 0.0;
    var bi = -1;
    if (live) {
      for (var j = lid; j < V; j += ${WG}u) {
        let v = logits[o + j];
        let after = pi < 0 || v < pv || (v == pv && i32(j) > pi);
        if (after && before(v, i32(j), bv, bi)) { bv = v; bi = i32(j); }
      }
    }
    rv[lid] = bv;
    ri[lid] = bi;
    workgroupBarrier();
    for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
      if (lid < s && before(rv[lid + s], ri[lid + s], rv[lid], ri[lid])) { rv[lid] = rv[lid + s]; ri[lid] = ri[lid + s]; }
      workgroupBarrier();
    }
    pv = rv[0];
    pi = ri[0];
    workgroupBarrier();
    if (c == 0u) { mx = pv; amax = max(pi, 0); }
    if (live && lid == 0u && c < ${SAMPLE_MAX_CANDIDATES}u) {
      out[so + ${SAMPLE_HEAD}u + c] = bitcast<f32>(max(pi, 0));
      out[so + ${SAMPLE_HEAD + SAMPLE_MAX_CANDIDATES}u + c] = pv;
    }
  }

  // normalizers: e^(l - max) and e^((l - max) / T), each thread over a contiguous chunk (the draw's order)
  let ch = (V + ${WG - 1}u) / ${WG}u;
  let j0 = min(lid * ch, V);
  let j1 = min(j0 + ch, V);
  var s1 = 0.0;
  var sT = 0.0;
  if (live && mx > -3.4e38) {
    for (var j = j0; j < j1; j++) {
      let d = logits[o + j] - mx;
      s1 += exp(d);
      sT += exp(d * rp.invT);
    }
  }
  workgroupBarrier();
  rv[lid] = s1;
  rs[lid] = sT;
  workgroupBarrier();
  if (live && lid == 0u) {
    var z = 0.0;
    var total = 0.0;
    for (var t = 0u; t < ${WG}u; t++) { z += rv[t]; total += rs[t]; }
    let logZ = select(mx + log(z), mx, mx <= -3.4e38);
    var drawn = -1;
    if (draw == 1u) {
      let r = rp.u * total;
      var acc = 0.0;
      var t = 0u;
      while (t < ${WG - 1}u && !(r < acc + rs[t])) { acc += rs[t]; t++; }
      // the walk goes on past chunk t if its element-wise sum rounds below the chunk's
      for (var j = min(t * ch, V); j < V; j++) {
        acc += exp((logits[o + j] - mx) * rp.invT);
        if (r < acc) { drawn = i32(j); break; }
      }
      if (drawn < 0) {
        // rounding: the last id with mass
        for (var j = i32(V) - 1; j >= 0; j--) {
          if (exp((logits[o + u32(j)] - mx) * rp.invT) > 0.0) { drawn = j; break; }
        }
        if (drawn < 0) { drawn = amax; }
      }
    }
    out[so] = bitcast<f32>(amax);
    out[so + 1u] = mx;
    out[so + 2u] = logZ;
    out[so + 3u] = total;
    out[so + 4u] = bitcast<f32>(drawn);
    if (drawn >= 0) { out[so + 5u] = logits[o + u32(drawn)]; }
  }
}`;
