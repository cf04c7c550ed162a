/**
 * WGSL readers of a weight in any `WeightFormat`, the device twin of `dequantRow` in
 * ../../kernels/tensor.ts (the same planar layouts, read as u32 words; little-endian like the host):
 *
 *   fn wload(j: u32, p: u32, k: u32) -> f32   // W[j, p] of a (rows, k) weight, as dequantRow(w, j)[p]
 *
 * Half floats are unpacked with `unpack2x16float`, so no shader-f16 feature is needed.
 */
import type { WeightFormat } from "../../kernels/tensor";

/** storage bindings a format needs: data (and the f16 group scales of q8/q4) */
export function weightBindingCount(format: WeightFormat): number {
  return format === "q8" || format === "q4" ? 2 : 1;
}

/** WGSL declarations of the weight's bindings from `first` on, and its `wload` */
export function weightWgsl(format: WeightFormat, first: number): string {
  const data = `@group(0) @binding(${first}) var<storage, read> wdata: array<${format === "f32" ? "f32" : "u32"}>;`;
  const scales = `@group(0) @binding(${first + 1}) var<storage, read> wscales: array<u32>;`;
  // f16 scale s of a (rows, G) table, element index si
  const scaleFn = `fn wscale(si: u32) -> f32 { return unpack2x16float(wscales[si >> 1u])[si & 1u]; }
fn wbyte(bi: u32) -> u32 { return (wdata[bi >> 2u] >> ((bi & 3u) * 8u)) & 0xffu; }`;
  switch (format) {
    case "f32":
      return `${data}
fn wload(j: u32, p: u32, k: u32) -> f32 { return wdata[j * k + p]; }`;
    case "f16":
      return `${data}
fn wload(j: u32, p: u32, k: u32) -> f32 { let e = j * k + p; return unpack2x16float(wdata[e >> 1u])[e & 1u]; }`;
    case "bf16":
      return `${data}
fn wload(j: u32, p: u32, k: u32) -> f32 {
  let e = j * k + p;
  let w = wdata[e >> 1u];
  return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (e & 1u) == 1u));
}`;
    case "q8":
      // w[j,p] = f16(scales[j*G + p/32]) * int8(qs[j*G*32 + p])
      return `${data}
${scales}
${scaleFn}
fn wload(j: u32, p: u32, k: u32) -> f32 {
  let G = (k + 31u) / 32u;
  let q = bitcast<i32>(wbyte(j * G * 32u + p) << 24u) >> 24u;
  return wscale(j * G + (p >> 5u)) * f32(q);
}`;
    case "q4":
      // byte = qs[(j*G + g)*16 + e%16]: element e<16 in the low nibble, e>=16 in the high one, offset 8
      return `${data}
${scales}
${scaleFn}
fn wload(j: u32, p: u32, k: u32) -> f32 {
  let G = (k + 31u) / 32u;
  let g = p >> 5u;
  let e = p & 31u;
  let b = wbyte((j * G + g) * 16u + (e & 15u));
  let q = select(b & 15u, b >> 4u, e >= 16u);
  return wscale(j * G + g) * (f32(q) - 8.0);
}`;
  }
}
