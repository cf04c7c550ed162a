#include "thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() {}
#endif

namespace lk {

Pool::Pool(int threads, int spin_us) : threads_(threads < 1 ? 1 : threads), spin_us_(spin_us) {
  scratch_.resize(threads_);
  for (int t = 1; t < threads_; t++) workers_.emplace_back([this, t] { worker_main(t); });
}

Pool::~Pool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

float* Pool::scratch(int thread, size_t floats) {
  auto& s = scratch_[thread];
  if (s.size() < floats) s.resize(floats);
  return s.data();
}

// Claims and runs tasks of job `gen` until none are left (or a newer job has replaced it).
void Pool::work(uint32_t gen, int thread) {
  TaskFn fn = fn_.load(std::memory_order_acquire);
  void* ctx = ctx_.load(std::memory_order_acquire);
  const int ntasks = ntasks_.load(std::memory_order_acquire);
  uint64_t cur = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (uint32_t(cur >> 32) != gen) return;
    const int idx = int(uint32_t(cur));
    if (idx >= ntasks) return;
    // A successful claim proves the job (and so fn/ctx/ntasks read above) is still current.
    if (claim_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      fn(ctx, idx, thread);
      done_.fetch_add(1, std::memory_order_acq_rel);
      cur = claim_.load(std::memory_order_acquire);
    }
  }
}

void Pool::worker_main(int thread) {
  uint32_t seen = 0;
  for (;;) {
    // Spin a little first: the engine calls ops back to back, so the next job usually comes
    // within microseconds and a futex wake-up would cost more than the op.
    auto start = std::chrono::steady_clock::now();
    int spins = 0;
    for (;;) {
      if (stop_.load(std::memory_order_acquire)) return;
      uint32_t gen = uint32_t(claim_.load(std::memory_order_acquire) >> 32);
      if (gen != seen) {
        seen = gen;
        work(gen, thread);
        start = std::chrono::steady_clock::now();
        continue;
      }
      cpu_relax();
      if (++spins % 256 == 0 &&
          std::chrono::steady_clock::now() - start > std::chrono::microseconds(spin_us_))
        break;
    }
    std::unique_lock<std::mutex> lock(mu_);
    sleepers_.fetch_add(1);
    cv_.wait(lock, [&] {
      return stop_.load() || uint32_t(claim_.load(std::memory_order_seq_cst) >> 32) != seen;
    });
    sleepers_.fetch_sub(1);
  }
}

void Pool::run(int ntasks, TaskFn fn, void* ctx) {
  if (ntasks <= 0) return;
  if (threads_ == 1 || ntasks == 1) {
    for (int i = 0; i < ntasks; i++) fn(ctx, i, 0);
    return;
  }
  fn_.store(fn, std::memory_order_release);
  ctx_.store(ctx, std::memory_order_release);
  ntasks_.store(ntasks, std::memory_order_release);
  done_.store(0, std::memory_order_release);
  const uint32_t gen = uint32_t(claim_.load(std::memory_order_relaxed) >> 32) + 1;
  // seq_cst store then load: a worker that registered as sleeper after our load is guaranteed
  // to see the new generation in its wait predicate, so no wake-up is lost.
  claim_.store(uint64_t(gen) << 32, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  work(gen, 0);
  int spins = 0;
  while (done_.load(std::memory_order_acquire) < ntasks) {
    cpu_relax();
    if (++spins > 4096) std::this_thread::yield();
  }
}

int pool_threads(const Pool* pool) { return pool->threads(); }
void pool_run(Pool* pool, int ntasks, TaskFn fn, void* ctx) { pool->run(ntasks, fn, ctx); }
float* pool_scratch(Pool* pool, int thread, size_t floats) { return pool->scratch(thread, floats); }

}  // namespace lk
