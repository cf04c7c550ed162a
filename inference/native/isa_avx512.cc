// The kernels compiled for one instruction set (avx512); addon.cc picks a table at run time.
#include <immintrin.h>

#include "kernels.h"

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")
#define LK_ISA 512

namespace lk {
namespace avx512 {
#include "simd.inc"
#include "gemm.inc"
#include "quant.inc"
#include "qdot.inc"
#include "elementwise.inc"
#include "attention.inc"
#include "lora.inc"
#include "train.inc"
}  // namespace avx512

extern const KernelTable kTableAvx512 = {
    "avx512",   avx512::matmul,   avx512::rms_norm,  avx512::rope, avx512::silu_mul,
    avx512::add_in_place, avx512::embed, avx512::kv_write, avx512::attention, avx512::lora, avx512::matmul_bf16,
    avx512::matmul_f16, avx512::matmul_q8, avx512::matmul_q4, &avx512::kTrainKernels, avx512::matmul_q8_i8, avx512::matmul_q4_i8,
};
}  // namespace lk
