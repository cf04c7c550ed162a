// N-API bindings of the kernels. Arguments are validated (types, lengths against the given
// dims) by inference/kernels/native.ts; here we re-check types and lengths cheaply so that a
// direct call can never read or write out of bounds, then hand raw pointers to the kernels.
// Each addon instance (main thread or worker_thread) owns its thread pool via instance data.
#include <fcntl.h>
#include <napi.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kernels.h"
#include "thread_pool.h"

namespace {

using lk::KernelTable;

struct Instance {
  lk::Pool pool;
  const KernelTable* table;
  bool int8_act;  // q8/q4 matmuls quantize x to int8 (qdot.inc) instead of keeping it f32 (quant.inc)
  std::vector<lk::LoraTask> lora_tasks;  // reused between calls
  Instance(int threads, int spin_us, const KernelTable* t, bool i8)
      : pool(threads, spin_us), table(t), int8_act(i8) {}
};

bool has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}

// kTableAvx512 with the VNNI int8 matmuls (isa_avx512vnni.cc).
const KernelTable* vnni_table() {
  static const KernelTable t = [] {
    KernelTable c = lk::kTableAvx512;
    c.isa = "avx512vnni";
    c.matmul_q8_i8 = lk::kQIntAvx512Vnni.matmul_q8_i8;
    c.matmul_q4_i8 = lk::kQIntAvx512Vnni.matmul_q4_i8;
    return c;
  }();
  return &t;
}

const KernelTable* best_table() {
  if (has_avx512()) return __builtin_cpu_supports("avx512vnni") ? vnni_table() : &lk::kTableAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return &lk::kTableAvx2;
  return &lk::kTableGeneric;
}

const KernelTable* table_named(const char* name) {
  const KernelTable* best = best_table();
  if (std::strcmp(name, "generic") == 0) return &lk::kTableGeneric;
  if (std::strcmp(name, "avx2") == 0)
    return best == &lk::kTableGeneric ? nullptr : &lk::kTableAvx2;
  if (std::strcmp(name, "avx512") == 0) return has_avx512() ? &lk::kTableAvx512 : nullptr;
  if (std::strcmp(name, "avx512vnni") == 0) return best == vnni_table() ? best : nullptr;
  return nullptr;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  int n = std::atoi(v);
  return n > 0 ? n : fallback;
}

Instance* inst(const Napi::CallbackInfo& info) { return info.Env().GetInstanceData<Instance>(); }

bool fail(Napi::Env env, const char* msg, bool range = false) {
  if (range)
    Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
  else
    Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

// Typed-array data pointer and element count, checking the element type.
template <typename T>
bool arr(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type want, T** data, size_t* len,
         const char* what) {
  napi_typedarray_type type;
  void* ptr = nullptr;
  size_t length = 0;
  if (i >= info.Length() ||
      napi_get_typedarray_info(info.Env(), info[i], &type, &length, &ptr, nullptr, nullptr) != napi_ok ||
      type != want)
    return fail(info.Env(), what);
  *data = static_cast<T*>(ptr);
  *len = length;
  return true;
}
#define F32(idx, name) \
  float* name = nullptr; \
  size_t name##_len = 0; \
  if (!arr(info, idx, napi_float32_array, &name, &name##_len, #name " must be a Float32Array")) return env.Undefined();
#define I32(idx, name) \
  int32_t* name = nullptr; \
  size_t name##_len = 0; \
  if (!arr(info, idx, napi_int32_array, &name, &name##_len, #name " must be an Int32Array")) return env.Undefined();

bool num(const Napi::CallbackInfo& info, size_t i, double* out, const char* what) {
  if (i >= info.Length() || napi_get_value_double(info.Env(), info[i], out) != napi_ok) return fail(info.Env(), what);
  return true;
}
#define DIM(idx, name)                                                                              \
  int name;                                                                                         \
  {                                                                                                 \
    double d_;                                                                                      \
    if (!num(info, idx, &d_, #name " must be a number")) return env.Undefined();                    \
    if (!(d_ >= 0 && d_ <= 2147483647.0) || d_ != (double)(int)d_) {                                \
      fail(env, #name " must be a non-negative integer", true);                                     \
      return env.Undefined();                                                                       \
    }                                                                                               \
    name = (int)d_;                                                                                 \
  }
#define NEED(cond, msg)           \
  if (!(cond)) {                  \
    fail(env, msg, true);         \
    return env.Undefined();       \
  }

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, x) F32(2, w) DIM(3, m) DIM(4, k) DIM(5, n)
  NEED(out_len >= (size_t)m * n && x_len >= (size_t)m * k && w_len >= (size_t)n * k, "matmul: array too small")
  inst(info)->table->matmul(&inst(info)->pool, out, x, w, m, k, n);
  return env.Undefined();
}

Napi::Value MatmulBf16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, x)
  uint16_t* w = nullptr;
  size_t w_len = 0;
  if (!arr(info, 2, napi_uint16_array, &w, &w_len, "w must be a Uint16Array (bf16 bits)")) return env.Undefined();
  DIM(3, m) DIM(4, k) DIM(5, n)
  NEED(out_len >= (size_t)m * n && x_len >= (size_t)m * k && w_len >= (size_t)n * k, "matmulBf16: array too small")
  inst(info)->table->matmul_bf16(&inst(info)->pool, out, x, w, m, k, n);
  return env.Undefined();
}

// Typed array of an integer element type at index idx (the compact weight formats).
#define TA(idx, T, napi_type, name, msg) \
  T* name = nullptr;                     \
  size_t name##_len = 0;                 \
  if (!arr(info, idx, napi_type, &name, &name##_len, msg)) return env.Undefined();

Napi::Value MatmulF16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, x) TA(2, uint16_t, napi_uint16_array, w, "w must be a Uint16Array (f16 bits)")
  DIM(3, m) DIM(4, k) DIM(5, n)
  NEED(out_len >= (size_t)m * n && x_len >= (size_t)m * k && w_len >= (size_t)n * k, "matmulF16: array too small")
  inst(info)->table->matmul_f16(&inst(info)->pool, out, x, w, m, k, n);
  return env.Undefined();
}

// q8 / q4: qs (n, G*32) int8 or (n, G*16) bytes, scales (n, G) f16 bits, G = ceil(k/32).
Napi::Value MatmulQ8(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, x) TA(2, int8_t, napi_int8_array, qs, "qs must be an Int8Array")
  TA(3, uint16_t, napi_uint16_array, scales, "scales must be a Uint16Array (f16 bits)")
  DIM(4, m) DIM(5, k) DIM(6, n)
  const size_t G = ((size_t)k + 31) / 32;
  NEED(out_len >= (size_t)m * n && x_len >= (size_t)m * k && qs_len >= (size_t)n * G * 32 &&
           scales_len >= (size_t)n * G,
       "matmulQ8: array too small")
  Instance* I = inst(info);
  (I->int8_act ? I->table->matmul_q8_i8 : I->table->matmul_q8)(&I->pool, out, x, qs, scales, m, k, n);
  return env.Undefined();
}

Napi::Value MatmulQ4(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, x) TA(2, uint8_t, napi_uint8_array, qs, "qs must be a Uint8Array")
  TA(3, uint16_t, napi_uint16_array, scales, "scales must be a Uint16Array (f16 bits)")
  DIM(4, m) DIM(5, k) DIM(6, n)
  const size_t G = ((size_t)k + 31) / 32;
  NEED(out_len >= (size_t)m * n && x_len >= (size_t)m * k && qs_len >= (size_t)n * G * 16 &&
           scales_len >= (size_t)n * G,
       "matmulQ4: array too small")
  Instance* I = inst(info);
  (I->int8_act ? I->table->matmul_q4_i8 : I->table->matmul_q4)(&I->pool, out, x, qs, scales, m, k, n);
  return env.Undefined();
}

// quantize(src: Float32Array | Uint16Array, srcFormat: "f32" | "bf16" | "f16", rows, cols,
//          qs: Int8Array (q8) | Uint8Array (q4), scales: Uint16Array): see quantize.cc.
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[1].IsString()) {
    fail(env, "quantize: srcFormat must be a string");
    return env.Undefined();
  }
  const std::string fmt = info[1].As<Napi::String>().Utf8Value();
  const int src_format = fmt == "f32" ? 0 : fmt == "bf16" ? 1 : fmt == "f16" ? 2 : -1;
  NEED(src_format >= 0, "quantize: srcFormat must be f32, bf16 or f16")
  void* src = nullptr;
  size_t src_len = 0;
  if (!arr(info, 0, src_format == 0 ? napi_float32_array : napi_uint16_array, &src, &src_len,
           src_format == 0 ? "quantize: src must be a Float32Array for f32" : "quantize: src must be a Uint16Array for bf16/f16"))
    return env.Undefined();
  DIM(2, rows) DIM(3, cols)
  napi_typedarray_type qt;
  void* qs = nullptr;
  size_t qs_len = 0;
  if (napi_get_typedarray_info(env, info[4], &qt, &qs_len, &qs, nullptr, nullptr) != napi_ok ||
      (qt != napi_int8_array && qt != napi_uint8_array)) {
    fail(env, "quantize: qs must be an Int8Array (q8) or a Uint8Array (q4)");
    return env.Undefined();
  }
  TA(5, uint16_t, napi_uint16_array, scales, "quantize: scales must be a Uint16Array")
  const int q4 = qt == napi_uint8_array;
  const size_t G = ((size_t)cols + 31) / 32;
  NEED(cols > 0 && src_len >= (size_t)rows * cols && qs_len >= (size_t)rows * G * (q4 ? 16 : 32) &&
           scales_len >= (size_t)rows * G,
       "quantize: array too small")
  int er = -1, ec = -1;
  const int st = lk::quantize_rows(&inst(info)->pool, src, src_format, rows, cols, q4, qs, scales, &er, &ec);
  if (st != 0) {
    const std::string msg = st == 1 ? "non-finite weight at row " + std::to_string(er) + ", column " + std::to_string(ec)
                                    : "quantization scale past the f16 range at row " + std::to_string(er);
    fail(env, msg.c_str(), true);
  }
  return env.Undefined();
}

// mmapFile(path, offset, length): bytes [offset, offset + length) of the file as an ArrayBuffer over
// a private (copy-on-write) mapping, so weights are used as stored, paged in on demand and shared
// with the page cache; a stray write lands in a private page, never in the file. Unmapped when the
// buffer is collected. A window, not the whole file: Node 20 refuses an external buffer over 4 GiB
// (buffer.constants.MAX_LENGTH), and a 7B checkpoint's shards are bigger. The mapping starts at the
// page below `offset`; the buffer starts at `offset` itself.
struct Mapping {
  void* base;
  size_t size;
};

Napi::Value MmapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    fail(env, "mmapFile: (path, offset, length) expected");
    return env.Undefined();
  }
  const std::string file = info[0].As<Napi::String>().Utf8Value();
  const double offD = info[1].As<Napi::Number>().DoubleValue();
  const double lenD = info[2].As<Napi::Number>().DoubleValue();
  if (!(offD >= 0) || !(lenD >= 0) || offD != (double)(uint64_t)offD || lenD != (double)(uint64_t)lenD) {
    fail(env, "mmapFile: offset and length must be non-negative integers");
    return env.Undefined();
  }
  const size_t offset = (size_t)offD, length = (size_t)lenD;
  if (length > ((size_t)1 << 32)) {
    fail(env, "mmapFile: a window is at most 4 GiB (Node's buffer limit); map a tensor at a time");
    return env.Undefined();
  }
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    const std::string msg = "mmapFile: cannot open " + file + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    Napi::Error::New(env, msg).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (offset + length > (size_t)st.st_size) {
    close(fd);
    Napi::Error::New(env, "mmapFile: " + file + " has " + std::to_string((size_t)st.st_size) + " bytes, fewer than offset + length = " +
                              std::to_string(offset + length)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (length == 0) {
    close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t start = offset / page * page;
  const size_t size = offset + length - start;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)start);
  const int err = errno;
  close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) {
    Napi::Error::New(env, "mmapFile: cannot map " + file + ": " + std::strerror(err)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::ArrayBuffer::New(
      env, static_cast<char*>(p) + (offset - start), length,
      [](Napi::Env, void*, Mapping* m) { munmap(m->base, m->size); delete m; }, new Mapping{p, size});
}

Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, x) F32(2, weight) DIM(3, rows) DIM(4, dim)
  double eps;
  if (!num(info, 5, &eps, "eps must be a number")) return env.Undefined();
  NEED(out_len >= (size_t)rows * dim && x_len >= (size_t)rows * dim && weight_len >= (size_t)dim,
       "rmsNorm: array too small")
  inst(info)->table->rms_norm(&inst(info)->pool, out, x, weight, rows, dim, (float)eps);
  return env.Undefined();
}

Napi::Value Rope(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, x) I32(1, positions) F32(2, invFreq) DIM(3, tokens) DIM(4, heads) DIM(5, headDim)
  NEED(headDim % 2 == 0, "rope: headDim must be even")
  NEED(x_len >= (size_t)tokens * heads * headDim && positions_len >= (size_t)tokens &&
           invFreq_len >= (size_t)headDim / 2,
       "rope: array too small")
  inst(info)->table->rope(&inst(info)->pool, x, positions, invFreq, tokens, heads, headDim);
  return env.Undefined();
}

Napi::Value SiluMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, gate) F32(2, up) DIM(3, n)
  NEED(out_len >= (size_t)n && gate_len >= (size_t)n && up_len >= (size_t)n, "siluMul: array too small")
  inst(info)->table->silu_mul(&inst(info)->pool, out, gate, up, (size_t)n);
  return env.Undefined();
}

Napi::Value AddInPlace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, y) F32(1, x) DIM(2, n)
  NEED(y_len >= (size_t)n && x_len >= (size_t)n, "addInPlace: array too small")
  inst(info)->table->add_in_place(&inst(info)->pool, y, x, (size_t)n);
  return env.Undefined();
}

Napi::Value Embed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, table) I32(2, ids) DIM(3, tokens) DIM(4, dim)
  NEED(dim > 0 || tokens == 0, "embed: dim must be positive")
  NEED(out_len >= (size_t)tokens * dim && ids_len >= (size_t)tokens, "embed: array too small")
  if (tokens == 0) return env.Undefined();
  const size_t vocab = table_len / (size_t)dim;
  NEED(inst(info)->table->embed(&inst(info)->pool, out, table, vocab, ids, tokens, dim) == lk::kOk,
       "embed: token id out of range of the table")
  return env.Undefined();
}

Napi::Value KvWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, kCache) F32(1, vCache) F32(2, k) F32(3, v) I32(4, slots) DIM(5, tokens) DIM(6, kvDim)
  NEED(kvDim > 0 || tokens == 0, "kvWrite: kvDim must be positive")
  NEED(k_len >= (size_t)tokens * kvDim && v_len >= (size_t)tokens * kvDim && slots_len >= (size_t)tokens,
       "kvWrite: array too small")
  if (tokens == 0) return env.Undefined();
  const size_t num_slots = (kCache_len < vCache_len ? kCache_len : vCache_len) / (size_t)kvDim;
  NEED(inst(info)->table->kv_write(&inst(info)->pool, kCache, vCache, num_slots, k, v, slots, tokens, kvDim) ==
           lk::kOk,
       "kvWrite: slot out of range of the cache")
  return env.Undefined();
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, q) F32(2, kCache) F32(3, vCache) I32(4, blockTables) I32(5, seqIndex) I32(6, positions)
  DIM(7, tokens) DIM(8, numHeads) DIM(9, numKvHeads) DIM(10, headDim) DIM(11, blockSize)
  DIM(12, maxBlocksPerSeq) DIM(13, window)
  double scale;
  if (!num(info, 14, &scale, "scale must be a number")) return env.Undefined();
  if (tokens == 0) return env.Undefined();
  NEED(numKvHeads > 0 && numHeads % numKvHeads == 0, "attention: numHeads must be a multiple of numKvHeads")
  NEED(headDim > 0 && blockSize > 0 && maxBlocksPerSeq > 0, "attention: dims must be positive")
  const size_t q_width = (size_t)numHeads * headDim, kv_width = (size_t)numKvHeads * headDim;
  NEED(out_len >= tokens * q_width && q_len >= tokens * q_width && seqIndex_len >= (size_t)tokens &&
           positions_len >= (size_t)tokens,
       "attention: array too small")
  const size_t num_slots = (kCache_len < vCache_len ? kCache_len : vCache_len) / kv_width;
  const int num_seqs = (int)(blockTables_len / (size_t)maxBlocksPerSeq);
  const int st = inst(info)->table->attention(&inst(info)->pool, out, q, kCache, vCache, num_slots, blockTables,
                                              num_seqs, seqIndex, positions, tokens, numHeads, numKvHeads, headDim,
                                              blockSize, maxBlocksPerSeq, window, (float)scale);
  NEED(st != lk::kBadIndex, "attention: seqIndex out of range of blockTables")
  NEED(st != lk::kBadPosition, "attention: position beyond maxBlocksPerSeq * blockSize")
  NEED(st != lk::kBadBlock, "attention: block id out of range of the cache")
  return env.Undefined();
}

// lora(y, x, k, n, segStarts, a[], b[], ranks, scales)
Napi::Value Lora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, y) F32(1, x) DIM(2, k) DIM(3, n) I32(4, segStarts) I32(7, ranks) F32(8, scales)
  if (info.Length() < 7 || !info[5].IsArray() || !info[6].IsArray()) {
    fail(env, "lora: a and b must be arrays");
    return env.Undefined();
  }
  Napi::Array as = info[5].As<Napi::Array>(), bs = info[6].As<Napi::Array>();
  const int segs = segStarts_len > 0 ? (int)segStarts_len - 1 : 0;
  NEED(as.Length() >= (uint32_t)segs && bs.Length() >= (uint32_t)segs && ranks_len >= (size_t)segs &&
           scales_len >= (size_t)segs,
       "lora: fewer adapters than segments")
  if (segs == 0) return env.Undefined();
  const int tokens = segStarts[segs];
  NEED(segStarts[0] >= 0 && y_len >= (size_t)tokens * n && x_len >= (size_t)tokens * k, "lora: array too small")
  Instance* in = inst(info);
  auto& tasks = in->lora_tasks;
  tasks.clear();
  const int kMaxRows = 32;  // rows per task: splits prefill segments across threads
  for (int s = 0; s < segs; s++) {
    NEED(segStarts[s + 1] >= segStarts[s], "lora: segStarts must be non-decreasing")
    Napi::Value av = as[(uint32_t)s], bv = bs[(uint32_t)s];
    if (av.IsNull() || av.IsUndefined() || bv.IsNull() || bv.IsUndefined()) continue;
    const int r = ranks[s];
    float *a, *b;
    size_t a_len, b_len;
    napi_typedarray_type ta, tb;
    if (napi_get_typedarray_info(env, av, &ta, &a_len, (void**)&a, nullptr, nullptr) != napi_ok ||
        napi_get_typedarray_info(env, bv, &tb, &b_len, (void**)&b, nullptr, nullptr) != napi_ok ||
        ta != napi_float32_array || tb != napi_float32_array) {
      fail(env, "lora: a[s] and b[s] must be Float32Array or null");
      return env.Undefined();
    }
    NEED(r >= 0 && a_len >= (size_t)r * k && b_len >= (size_t)n * r, "lora: adapter array too small for its rank")
    for (int t = segStarts[s]; t < segStarts[s + 1]; t += kMaxRows) {
      const int t1 = segStarts[s + 1] < t + kMaxRows ? segStarts[s + 1] : t + kMaxRows;
      tasks.push_back(lk::LoraTask{a, b, r, scales[s], t, t1});
    }
  }
  in->table->lora(&in->pool, y, x, k, n, tasks.data(), (int)tasks.size());
  return env.Undefined();
}

// ---------------------------------------------------------------- training kernels (train.inc)
#define F64(idx, name) \
  double* name = nullptr; \
  size_t name##_len = 0; \
  if (!arr(info, idx, napi_float64_array, &name, &name##_len, #name " must be a Float64Array")) return env.Undefined();
#define FNUM(idx, name) \
  double name; \
  if (!num(info, idx, &name, #name " must be a number")) return env.Undefined();

const lk::TrainKernels* tk(const Napi::CallbackInfo& info) { return inst(info)->table->train; }

// trMatmul(out, a, b, m, k, n, layout, alpha, acc): layout 0 = a (m,k)·b(n,k)ᵀ, 1 = a (m,k)·b (k,n),
// 2 = a (k,m)ᵀ·b (k,n); out (m, n) = [out +] alpha · product (acc 1 adds).
Napi::Value TrMatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, a) F32(2, b) DIM(3, m) DIM(4, k) DIM(5, n) DIM(6, layout) FNUM(7, alpha) DIM(8, acc)
  NEED(layout <= 2, "trMatmul: layout must be 0, 1 or 2")
  NEED(out_len >= (size_t)m * n && a_len >= (size_t)m * k && b_len >= (size_t)n * k, "trMatmul: array too small")
  Instance* in = inst(info);
  auto f = layout == 0 ? in->table->train->mm_nt : layout == 1 ? in->table->train->mm_nn : in->table->train->mm_tn;
  f(&in->pool, out, a, b, m, k, n, (float)alpha, acc ? 1 : 0);
  return env.Undefined();
}

Napi::Value TrAxpy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, y) FNUM(1, alpha) F32(2, x) DIM(3, n)
  NEED(y_len >= (size_t)n && x_len >= (size_t)n, "trAxpy: array too small")
  tk(info)->axpy(&inst(info)->pool, y, (float)alpha, x, (size_t)n);
  return env.Undefined();
}

Napi::Value TrSiluFwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, sig) F32(2, gate) F32(3, up) DIM(4, n)
  NEED(out_len >= (size_t)n && sig_len >= (size_t)n && gate_len >= (size_t)n && up_len >= (size_t)n,
       "trSiluFwd: array too small")
  tk(info)->silu_fwd(&inst(info)->pool, out, sig, gate, up, (size_t)n);
  return env.Undefined();
}

Napi::Value TrSiluBwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, dgate) F32(1, dup) F32(2, dout) F32(3, gate) F32(4, up) F32(5, sig) DIM(6, n)
  NEED(dgate_len >= (size_t)n && dup_len >= (size_t)n && dout_len >= (size_t)n && gate_len >= (size_t)n &&
           up_len >= (size_t)n && sig_len >= (size_t)n,
       "trSiluBwd: array too small")
  tk(info)->silu_bwd(&inst(info)->pool, dgate, dup, dout, gate, up, sig, (size_t)n);
  return env.Undefined();
}

Napi::Value TrRmsFwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, y) F32(1, rstd) F32(2, x) F32(3, w) DIM(4, rows) DIM(5, dim) FNUM(6, eps)
  const size_t n = (size_t)rows * dim;
  NEED(y_len >= n && x_len >= n && rstd_len >= (size_t)rows && w_len >= (size_t)dim, "trRmsFwd: array too small")
  tk(info)->rms_fwd(&inst(info)->pool, y, rstd, x, w, rows, dim, (float)eps);
  return env.Undefined();
}

Napi::Value TrRmsBwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, dx) F32(1, dy) F32(2, x) F32(3, w) F32(4, rstd) DIM(5, rows) DIM(6, dim)
  const size_t n = (size_t)rows * dim;
  NEED(dx_len >= n && dy_len >= n && x_len >= n && rstd_len >= (size_t)rows && w_len >= (size_t)dim,
       "trRmsBwd: array too small")
  tk(info)->rms_bwd(&inst(info)->pool, dx, dy, x, w, rstd, rows, dim);
  return env.Undefined();
}

Napi::Value TrRope(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, x) I32(1, positions) F32(2, invFreq) DIM(3, tokens) DIM(4, heads) DIM(5, headDim) FNUM(6, sign)
  NEED(headDim % 2 == 0, "trRope: headDim must be even")
  NEED(x_len >= (size_t)tokens * heads * headDim && positions_len >= (size_t)tokens &&
           invFreq_len >= (size_t)headDim / 2,
       "trRope: array too small")
  tk(info)->rope(&inst(info)->pool, x, positions, invFreq, tokens, heads, headDim, (float)sign);
  return env.Undefined();
}

// seqStarts (S+1) ascending from 0 to at most the tokens q holds; nh a multiple of nkv.
bool attn_shape_ok(Napi::Env env, const int32_t* ss, size_t ss_len, size_t q_len, size_t k_len, int nh, int nkv, int d) {
  if (nkv <= 0 || d <= 0 || nh % nkv != 0 || ss_len < 1) return fail(env, "attention: bad head shape", true);
  const size_t T = q_len / ((size_t)nh * d);
  if (k_len / ((size_t)nkv * d) < T) return fail(env, "attention: k/v shorter than q", true);
  if (ss[0] != 0) return fail(env, "attention: seqStarts must start at 0", true);
  for (size_t s = 0; s + 1 < ss_len; s++)
    if (ss[s + 1] < ss[s] || (size_t)ss[s + 1] > T) return fail(env, "attention: seqStarts out of range", true);
  return true;
}

Napi::Value TrAttnFwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, out) F32(1, lse) F32(2, q) F32(3, k) F32(4, v) I32(5, seqStarts) DIM(6, nh) DIM(7, nkv) DIM(8, d)
  DIM(9, window) FNUM(10, scale)
  if (!attn_shape_ok(env, seqStarts, seqStarts_len, q_len, k_len, nh, nkv, d)) return env.Undefined();
  const size_t T = (size_t)seqStarts[seqStarts_len - 1];
  NEED(out_len >= T * nh * d && lse_len >= T * nh && v_len >= T * nkv * d, "trAttnFwd: array too small")
  tk(info)->attn_fwd(&inst(info)->pool, out, lse, q, k, v, seqStarts, (int)seqStarts_len - 1, nh, nkv, d, window,
                     (float)scale);
  return env.Undefined();
}

Napi::Value TrAttnBwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, dq) F32(1, dk) F32(2, dv) F32(3, dout) F32(4, out) F32(5, lse) F32(6, q) F32(7, k) F32(8, v)
  I32(9, seqStarts) DIM(10, nh) DIM(11, nkv) DIM(12, d) DIM(13, window) FNUM(14, scale)
  if (!attn_shape_ok(env, seqStarts, seqStarts_len, q_len, k_len, nh, nkv, d)) return env.Undefined();
  const size_t T = (size_t)seqStarts[seqStarts_len - 1];
  NEED(dq_len >= T * nh * d && dout_len >= T * nh * d && out_len >= T * nh * d && lse_len >= T * nh &&
           dk_len >= T * nkv * d && dv_len >= T * nkv * d && v_len >= T * nkv * d,
       "trAttnBwd: array too small")
  tk(info)->attn_bwd(&inst(info)->pool, dq, dk, dv, dout, out, lse, q, k, v, seqStarts, (int)seqStarts_len - 1, nh, nkv,
                     d, window, (float)scale);
  return env.Undefined();
}

bool drops_ok(Napi::Env env, const int32_t* drops, size_t nd, size_t limit) {
  for (size_t i = 0; i < nd; i++)
    if (drops[i] < 0 || (size_t)drops[i] >= limit) return fail(env, "dropout: index out of range", true);
  return true;
}

// trDropFwd(h (T, r), x (T, k), a (r, k), drops, k, r)
Napi::Value TrDropFwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, h) F32(1, x) F32(2, a) I32(3, drops) DIM(4, k) DIM(5, r)
  NEED(k > 0 && a_len >= (size_t)r * k, "trDropFwd: array too small")
  const size_t T = x_len / k;
  NEED(h_len >= T * r, "trDropFwd: array too small")
  if (!drops_ok(env, drops, drops_len, T * k)) return env.Undefined();
  tk(info)->drop_fwd(&inst(info)->pool, h, x, a, drops, (int)drops_len, k, r);
  return env.Undefined();
}

// trDropBwd(ga (r, k), dxl (T, k), dh (T, r), x (T, k), drops, k, r, alpha)
Napi::Value TrDropBwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, ga) F32(1, dxl) F32(2, dh) F32(3, x) I32(4, drops) DIM(5, k) DIM(6, r) FNUM(7, alpha)
  NEED(k > 0 && ga_len >= (size_t)r * k, "trDropBwd: array too small")
  const size_t T = x_len / k;
  NEED(dxl_len >= T * k && dh_len >= T * r, "trDropBwd: array too small")
  if (!drops_ok(env, drops, drops_len, T * k)) return env.Undefined();
  tk(info)->drop_bwd(&inst(info)->pool, ga, dxl, dh, x, drops, (int)drops_len, k, r, (float)alpha);
  return env.Undefined();
}

// trCrossEntropy(logits (rows, vocab), targets (rows), loss (rows) f64, rows, vocab, weight)
Napi::Value TrCrossEntropy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32(0, logits) I32(1, targets) F64(2, loss) DIM(3, rows) DIM(4, vocab) FNUM(5, weight)
  NEED(vocab > 0 && logits_len >= (size_t)rows * vocab && targets_len >= (size_t)rows && loss_len >= (size_t)rows,
       "trCrossEntropy: array too small")
  for (int r = 0; r < rows; r++) NEED(targets[r] >= 0 && targets[r] < vocab, "trCrossEntropy: target out of range")
  tk(info)->cross_entropy(&inst(info)->pool, logits, targets, loss, rows, vocab, (float)weight);
  return env.Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", inst(info)->table->isa);
  o.Set("bestIsa", best_table()->isa);
  o.Set("threads", inst(info)->pool.threads());
  o.Set("quantActivations", inst(info)->int8_act ? "int8" : "f32");
  return o;
}

// setIsa("avx512vnni" | "avx512" | "avx2" | "generic"): switch the kernel build (tests run every path).
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    fail(env, "setIsa: name must be a string");
    return env.Undefined();
  }
  const KernelTable* t = table_named(info[0].As<Napi::String>().Utf8Value().c_str());
  if (t) inst(info)->table = t;
  return Napi::Boolean::New(env, t != nullptr);
}

// setQuantActivations("int8" | "f32"): how q8/q4 matmuls treat x (qdot.inc vs quant.inc); returns
// false (and changes nothing) for another name.
Napi::Value SetQuantActivations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    fail(env, "setQuantActivations: mode must be a string");
    return env.Undefined();
  }
  const std::string mode = info[0].As<Napi::String>().Utf8Value();
  const bool ok = mode == "int8" || mode == "f32";
  if (ok) inst(info)->int8_act = mode == "int8";
  return Napi::Boolean::New(env, ok);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const int threads = env_int("LORA_KERNELS_THREADS", (int)std::thread::hardware_concurrency());
  const KernelTable* table = best_table();
  if (const char* isa = std::getenv("LORA_KERNELS_ISA"))
    if (const KernelTable* t = table_named(isa)) table = t;
  // LORA_KERNELS_QACT=f32 keeps q8/q4 activations in f32 (the slower path, for accuracy comparisons)
  const char* qact = std::getenv("LORA_KERNELS_QACT");
  const bool int8_act = !(qact && std::strcmp(qact, "f32") == 0);
  env.SetInstanceData(new Instance(threads, env_int("LORA_KERNELS_SPIN_US", 100), table, int8_act));
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("matmulBf16", Napi::Function::New(env, MatmulBf16, "matmulBf16"));
  exports.Set("matmulF16", Napi::Function::New(env, MatmulF16, "matmulF16"));
  exports.Set("matmulQ8", Napi::Function::New(env, MatmulQ8, "matmulQ8"));
  exports.Set("matmulQ4", Napi::Function::New(env, MatmulQ4, "matmulQ4"));
  exports.Set("quantize", Napi::Function::New(env, Quantize, "quantize"));
  exports.Set("mmapFile", Napi::Function::New(env, MmapFile, "mmapFile"));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm, "rmsNorm"));
  exports.Set("rope", Napi::Function::New(env, Rope, "rope"));
  exports.Set("siluMul", Napi::Function::New(env, SiluMul, "siluMul"));
  exports.Set("addInPlace", Napi::Function::New(env, AddInPlace, "addInPlace"));
  exports.Set("embed", Napi::Function::New(env, Embed, "embed"));
  exports.Set("kvWrite", Napi::Function::New(env, KvWrite, "kvWrite"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("lora", Napi::Function::New(env, Lora, "lora"));
  exports.Set("trMatmul", Napi::Function::New(env, TrMatmul, "trMatmul"));
  exports.Set("trAxpy", Napi::Function::New(env, TrAxpy, "trAxpy"));
  exports.Set("trSiluFwd", Napi::Function::New(env, TrSiluFwd, "trSiluFwd"));
  exports.Set("trSiluBwd", Napi::Function::New(env, TrSiluBwd, "trSiluBwd"));
  exports.Set("trRmsFwd", Napi::Function::New(env, TrRmsFwd, "trRmsFwd"));
  exports.Set("trRmsBwd", Napi::Function::New(env, TrRmsBwd, "trRmsBwd"));
  exports.Set("trRope", Napi::Function::New(env, TrRope, "trRope"));
  exports.Set("trAttnFwd", Napi::Function::New(env, TrAttnFwd, "trAttnFwd"));
  exports.Set("trAttnBwd", Napi::Function::New(env, TrAttnBwd, "trAttnBwd"));
  exports.Set("trDropFwd", Napi::Function::New(env, TrDropFwd, "trDropFwd"));
  exports.Set("trDropBwd", Napi::Function::New(env, TrDropBwd, "trDropBwd"));
  exports.Set("trCrossEntropy", Napi::Function::New(env, TrCrossEntropy, "trCrossEntropy"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("setQuantActivations", Napi::Function::New(env, SetQuantActivations, "setQuantActivations"));
  return exports;
}

}  // namespace

NODE_API_MODULE(lora_kernels, Init)
