/**
 * IEEE half (f16) <-> fp32 for weights and quantization scales stored as raw f16 bit patterns in
 * a Uint16Array. Decoding uses a 64K-entry table (exact); encoding rounds to nearest even like
 * torch's `.to(torch.float16)`: values past the f16 range become ±Infinity, so callers that must
 * not overflow check first (`f16Overflow`).
 */

let table: Float32Array | null = null;

function decodeSlow(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24; // subnormal
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** (65536) fp32 value of every f16 bit pattern */
export function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = decodeSlow(h);
  }
  return table;
}

/** The fp32 value of one f16 bit pattern (exact). */
export function f16ToF32(bits: number): number {
  return (table ?? f16Table())[bits & 0xffff];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One fp32 value -> f16 bits, round to nearest even (NaN stays NaN, overflow -> ±Inf). */
export function f32ToF16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000; // implicit bit
    const shift = 14 - e; // 24-bit mantissa -> subnormal f16 mantissa
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m; // m may carry into the exponent field: that is the correct rounding
  }
  const rest = mant & 0x1fff;
  let h = sign | (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // carry into the exponent is correct
  return h;
}

/** fp32 -> f16 bit patterns (round to nearest even). */
export function toF16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]);
  return out;
}

/** f16 bit patterns -> a new Float32Array (exact). */
export function fromF16(src: Uint16Array): Float32Array {
  const t = f16Table();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** Largest finite f16 value. */
export const F16_MAX = 65504;
