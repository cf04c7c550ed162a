// The int8-activation q8/q4 matmuls (qdot.inc) compiled for AVX-512 + VNNI (vpdpbusd); addon.cc
// builds the "avx512vnni" table as kTableAvx512 with these two entries swapped in. gemm.inc and
// quant.inc come along for the helpers qdot.inc uses (their unused kernels emit no code).
#include <immintrin.h>

#include "kernels.h"

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c")
#define LK_ISA 512
#define LK_VNNI 1
#pragma GCC diagnostic ignored "-Wunused-function"  // the f32 kernels of gemm.inc / quant.inc

namespace lk {
namespace avx512vnni {
#include "simd.inc"
#include "gemm.inc"
#include "quant.inc"
#include "qdot.inc"
}  // namespace avx512vnni

extern const QIntKernels kQIntAvx512Vnni = {avx512vnni::matmul_q8_i8, avx512vnni::matmul_q4_i8};
}  // namespace lk
