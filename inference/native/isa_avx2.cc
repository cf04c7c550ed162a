// The kernels compiled for one instruction set (avx2); addon.cc picks a table at run time.
#include <immintrin.h>

#include "kernels.h"

#pragma GCC target("avx2,fma,f16c")
#define LK_ISA 256

namespace lk {
namespace avx2 {
#include "simd.inc"
#include "gemm.inc"
#include "quant.inc"
#include "qdot.inc"
#include "elementwise.inc"
#include "attention.inc"
#include "lora.inc"
#include "train.inc"
}  // namespace avx2

extern const KernelTable kTableAvx2 = {
    "avx2",   avx2::matmul,   avx2::rms_norm,  avx2::rope, avx2::silu_mul,
    avx2::add_in_place, avx2::embed, avx2::kv_write, avx2::attention, avx2::lora, avx2::matmul_bf16,
    avx2::matmul_f16, avx2::matmul_q8, avx2::matmul_q4, &avx2::kTrainKernels, avx2::matmul_q8_i8, avx2::matmul_q4_i8,
};
}  // namespace lk
