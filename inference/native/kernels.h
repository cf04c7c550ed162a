// Interface between the N-API bindings (addon.cc), the thread pool and the per-ISA kernel
// builds (isa_*.cc). Plain C-style declarations only: the ISA translation units are compiled
// under `#pragma GCC target(...)` and must not instantiate standard-library templates (an
// AVX-512 copy of an inline std function could be picked by the linker for generic code).
#pragma once
#include <cstddef>
#include <cstdint>

namespace lk {

struct Pool;  // thread_pool.cc

// One unit of parallel work: task index in [0, ntasks), thread index in [0, pool_threads).
typedef void (*TaskFn)(void* ctx, int task, int thread);

int pool_threads(const Pool* pool);
// Runs fn(ctx, task, thread) for every task; the calling thread takes part. Returns when all are done.
void pool_run(Pool* pool, int ntasks, TaskFn fn, void* ctx);
// Per-thread scratch of at least `floats` floats (grows, never shrinks; valid until the next call).
float* pool_scratch(Pool* pool, int thread, size_t floats);

// A run of LoRA rows [t0, t1) sharing one adapter: a (r, k), b (n, r).
struct LoraTask {
  const float* a;
  const float* b;
  int r;
  float scale;
  int t0, t1;
};

// Kernel status: 0 ok, otherwise an index-out-of-range error detected inside a kernel.
enum Status : int { kOk = 0, kBadIndex = 1, kBadBlock = 2, kBadPosition = 3 };

// Quantizes a (rows, cols) f32 / bf16 / f16 (src_format 0 / 1 / 2) weight to q8 (q4 = 0: qs int8
// (rows, G*32)) or q4 (q4 = 1: qs bytes (rows, G*16)), scales (rows, G) f16 bits, as
// inference/kernels/quantize.ts does. Returns 0, or 1 (non-finite weight) / 2 (scale past f16)
// with the offending row and column. quantize.cc; not per ISA.
int quantize_rows(Pool* pool, const void* src, int src_format, int rows, int cols, int q4, void* qs, uint16_t* scales,
                  int* err_row, int* err_col);

// Training kernels (train.inc; the LoRA trainer in inference/train/). Plain loops they equal are
// written beside each in train.inc.
struct TrainKernels {
  void (*mm_nt)(Pool*, float* out, const float* x, const float* w, int m, int k, int n, float alpha, int acc);
  void (*mm_nn)(Pool*, float* out, const float* a, const float* b, int m, int k, int n, float alpha, int acc);
  void (*mm_tn)(Pool*, float* out, const float* a, const float* b, int m, int k, int n, float alpha, int acc);
  void (*axpy)(Pool*, float* y, float alpha, const float* x, size_t n);
  void (*silu_fwd)(Pool*, float* out, float* sig, const float* gate, const float* up, size_t n);
  void (*silu_bwd)(Pool*, float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                   const float* sig, size_t n);
  void (*rms_fwd)(Pool*, float* y, float* rstd, const float* x, const float* w, int rows, int dim, float eps);
  void (*rms_bwd)(Pool*, float* dx, const float* dy, const float* x, const float* w, const float* rstd, int rows,
                  int dim);
  void (*rope)(Pool*, float* x, const int32_t* positions, const float* inv_freq, int tokens, int heads, int head_dim,
               float sign);
  void (*attn_fwd)(Pool*, float* out, float* lse, const float* q, const float* k, const float* v,
                   const int32_t* seq_starts, int nseq, int nh, int nkv, int d, int window, float scale);
  void (*attn_bwd)(Pool*, float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                   const float* q, const float* k, const float* v, const int32_t* seq_starts, int nseq, int nh,
                   int nkv, int d, int window, float scale);
  void (*drop_fwd)(Pool*, float* h, const float* x, const float* a, const int32_t* drops, int nd, int k, int r);
  void (*drop_bwd)(Pool*, float* ga, float* dxl, const float* dh, const float* x, const int32_t* drops, int nd, int k,
                   int r, float alpha);
  void (*cross_entropy)(Pool*, float* logits, const int32_t* targets, double* loss, int rows, int vocab, float weight);
};

struct KernelTable {
  const char* isa;
  void (*matmul)(Pool*, float* out, const float* x, const float* w, int m, int k, int n);
  void (*rms_norm)(Pool*, float* out, const float* x, const float* weight, int rows, int dim, float eps);
  void (*rope)(Pool*, float* x, const int32_t* positions, const float* inv_freq, int tokens, int heads, int head_dim);
  void (*silu_mul)(Pool*, float* out, const float* gate, const float* up, size_t n);
  void (*add_in_place)(Pool*, float* y, const float* x, size_t n);
  int (*embed)(Pool*, float* out, const float* table, size_t vocab, const int32_t* ids, int tokens, int dim);
  int (*kv_write)(Pool*, float* kc, float* vc, size_t num_slots, const float* k, const float* v,
                  const int32_t* slots, int tokens, int kv_dim);
  int (*attention)(Pool*, float* out, const float* q, const float* kc, const float* vc, size_t num_slots,
                   const int32_t* block_tables, int num_seqs, const int32_t* seq_index, const int32_t* positions,
                   int tokens, int heads, int kv_heads, int head_dim, int block_size, int max_blocks,
                   int window, float scale);
  void (*lora)(Pool*, float* y, const float* x, int k, int n, const LoraTask* tasks, int ntasks);
  // matmul with bf16 weights (raw uint16 bit patterns), fp32 activations and accumulation
  void (*matmul_bf16)(Pool*, float* out, const float* x, const uint16_t* w, int m, int k, int n);
  // matmul with f16 / q8 / q4 weights (layouts in inference/kernels/tensor.ts; quant.inc)
  void (*matmul_f16)(Pool*, float* out, const float* x, const uint16_t* w, int m, int k, int n);
  void (*matmul_q8)(Pool*, float* out, const float* x, const int8_t* qs, const uint16_t* scales, int m, int k, int n);
  void (*matmul_q4)(Pool*, float* out, const float* x, const uint8_t* qs, const uint16_t* scales, int m, int k, int n);
  const TrainKernels* train;
  // q8 / q4 with x quantized to int8 per group of 32 and integer dot products (qdot.inc)
  void (*matmul_q8_i8)(Pool*, float* out, const float* x, const int8_t* qs, const uint16_t* scales, int m, int k, int n);
  void (*matmul_q4_i8)(Pool*, float* out, const float* x, const uint8_t* qs, const uint16_t* scales, int m, int k, int n);
};

extern const KernelTable kTableAvx512;
extern const KernelTable kTableAvx2;
extern const KernelTable kTableGeneric;
// The AVX-512 table with VNNI (vpdpbusd) int8 matmuls; addon.cc copies kTableAvx512 and swaps these in.
struct QIntKernels {
  void (*matmul_q8_i8)(Pool*, float* out, const float* x, const int8_t* qs, const uint16_t* scales, int m, int k, int n);
  void (*matmul_q4_i8)(Pool*, float* out, const float* x, const uint8_t* qs, const uint16_t* scales, int m, int k, int n);
};
extern const QIntKernels kQIntAvx512Vnni;

}  // namespace lk
