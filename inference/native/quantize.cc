// Quantization of float weight rows (f32 / bf16 / f16) to q8 and q4 for the loader: the same
// arithmetic as inference/kernels/quantize.ts, which is the definition (tests compare the bytes):
//   q8: d = f16(f32(amax / 127)); q = clamp(round_half_up(w / d), -127, 127)    (w / d in double)
//   q4: m = first weight of largest |w|; d = f16(f32(m / -8)); q = clamp(round_half_up(w / d) + 8, 0, 15)
// Built for baseline x86-64 (not per ISA): it runs once per tensor at load, spread over the pool.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace lk {
namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float f;
  if (e == 0) {
    f = (float)m * 5.9604644775390625e-8f;  // m * 2^-24, exact
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u |= sign;
    std::memcpy(&f, &u, 4);
    return f;
  }
  uint32_t u = sign | (e == 31 ? 0x7f800000u | (m << 13) : ((e + 112) << 23) | (m << 13));
  std::memcpy(&f, &u, 4);
  return f;
}

// f32 -> f16 bits, round to nearest even (as f16.ts f32ToF16Bits; callers refuse |v| > 65504).
uint16_t float_to_half(float v) {
  uint32_t x;
  std::memcpy(&x, &v, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const int exp = (int)((x >> 23) & 0xff);
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
  const int e = exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    mant |= 0x800000;
    const int shift = 14 - e;
    const uint32_t half = 1u << (shift - 1), rest = mant & ((1u << shift) - 1);
    uint32_t mm = mant >> shift;
    if (rest > half || (rest == half && (mm & 1))) mm++;
    return (uint16_t)(sign | mm);
  }
  const uint32_t rest = mant & 0x1fff;
  uint32_t h = sign | ((uint32_t)e << 10) | (mant >> 13);
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return (uint16_t)h;
}

struct QuantCtx {
  const void* src;
  int src_format;  // 0 f32, 1 bf16, 2 f16
  int rows, cols, G, q4;
  int8_t* qs8;
  uint8_t* qs4;
  uint16_t* scales;
  int rows_per_task;
  // first error (row-major smallest is not guaranteed; any one is reported)
  int err_row, err_col, err_kind;  // kind 1: non-finite weight, 2: scale past f16
};

// JavaScript's Math.round (ties toward +inf). Not floor(v + 0.5): that rounds 0.49999999999999994
// up, as the sum is inexact; v - floor(v) is exact.
// |v| <= ~128 here, so floor goes through an int conversion (vectorises without SSE4.1's roundpd).
inline double js_round(double v) {
  double f = (double)(int)v;
  f = f > v ? f - 1 : f;
  return v - f >= 0.5 ? f + 1 : f;
}

void quant_task(void* c, int task, int) {
  QuantCtx& q = *(QuantCtx*)c;
  const int r0 = task * q.rows_per_task, r1 = r0 + q.rows_per_task < q.rows ? r0 + q.rows_per_task : q.rows;
  float row[32];
  for (int j = r0; j < r1; j++) {
    for (int g = 0; g < q.G; g++) {
      const int p0 = g * 32, p1 = p0 + 32 < q.cols ? p0 + 32 : q.cols, len = p1 - p0;
      const size_t base = (size_t)j * q.cols + p0;
      for (int i = 0; i < len; i++) {
        if (q.src_format == 0)
          row[i] = ((const float*)q.src)[base + i];
        else if (q.src_format == 1) {
          const uint32_t u = (uint32_t)((const uint16_t*)q.src)[base + i] << 16;
          std::memcpy(&row[i], &u, 4);
        } else
          row[i] = half_to_float(((const uint16_t*)q.src)[base + i]);
        if (!std::isfinite(row[i])) {
          q.err_row = j, q.err_col = p0 + i, q.err_kind = 1;
          return;
        }
      }
      for (int i = len; i < 32; i++) row[i] = 0;  // padding quantizes to 0 (q4: nibble 8)
      float amax = 0, mx = 0;
      for (int i = 0; i < len; i++)
        if (std::fabs(row[i]) > amax) amax = std::fabs(row[i]), mx = row[i];
      const double dd = q.q4 ? (double)mx / -8.0 : (double)amax / 127.0;
      if (std::fabs(dd) > 65504.0) {
        q.err_row = j, q.err_col = p0, q.err_kind = 2;
        return;
      }
      const uint16_t bits = float_to_half((float)dd);
      q.scales[(size_t)j * q.G + g] = bits;
      const double d = half_to_float(bits);
      if (!q.q4) {
        int8_t* o = q.qs8 + ((size_t)j * q.G + g) * 32;
        if (d == 0) {
          std::memset(o, 0, 32);
          continue;
        }
        for (int i = 0; i < 32; i++) {
          const double v = js_round((double)row[i] / d);
          o[i] = (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
        }
      } else {
        uint8_t n[32];
        for (int i = 0; i < 32; i++) {
          const double v = d != 0 ? js_round((double)row[i] / d) + 8 : 8;
          n[i] = (uint8_t)(v < 0 ? 0 : v > 15 ? 15 : v);
        }
        uint8_t* o = q.qs4 + ((size_t)j * q.G + g) * 16;
        for (int b = 0; b < 16; b++) o[b] = (uint8_t)(n[b] | (n[b + 16] << 4));
      }
    }
  }
}

}  // namespace

int quantize_rows(Pool* pool, const void* src, int src_format, int rows, int cols, int q4, void* qs, uint16_t* scales,
                  int* err_row, int* err_col) {
  QuantCtx ctx{src, src_format, rows, cols, (cols + 31) / 32, q4, (int8_t*)qs, (uint8_t*)qs, scales, 16, -1, -1, 0};
  const int tasks = (rows + ctx.rows_per_task - 1) / ctx.rows_per_task;
  pool_run(pool, tasks, quant_task, &ctx);
  *err_row = ctx.err_row;
  *err_col = ctx.err_col;
  return ctx.err_kind;
}

}  // namespace lk
