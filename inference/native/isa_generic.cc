// The kernels compiled for one instruction set (generic); addon.cc picks a table at run time.
#include <immintrin.h>

#include "kernels.h"


#define LK_ISA 128

namespace lk {
namespace generic {
#include "simd.inc"
#include "gemm.inc"
#include "quant.inc"
#include "qdot.inc"
#include "elementwise.inc"
#include "attention.inc"
#include "lora.inc"
#include "train.inc"
}  // namespace generic

extern const KernelTable kTableGeneric = {
    "generic",   generic::matmul,   generic::rms_norm,  generic::rope, generic::silu_mul,
    generic::add_in_place, generic::embed, generic::kv_write, generic::attention, generic::lora, generic::matmul_bf16,
    generic::matmul_f16, generic::matmul_q8, generic::matmul_q4, &generic::kTrainKernels, generic::matmul_q8_i8, generic::matmul_q4_i8,
};
}  // namespace lk
