// Persistent worker threads for one addon instance (no global state: each Node environment,
// main thread or worker_thread, owns its own pool through napi instance data).
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels.h"

namespace lk {

struct Pool {
  explicit Pool(int threads, int spin_us);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  void run(int ntasks, TaskFn fn, void* ctx);
  float* scratch(int thread, size_t floats);
  int threads() const { return threads_; }

 private:
  void worker_main(int thread);
  void work(uint32_t gen, int thread);

  int threads_;  // including the calling thread
  int spin_us_;
  std::vector<std::thread> workers_;
  // High 32 bits: job generation; low 32 bits: next task index to claim. One word so that a
  // late worker can never claim a task of a newer job with the older job's function.
  std::atomic<uint64_t> claim_{0};
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int> ntasks_{0};
  std::atomic<int> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<float>> scratch_;
};

}  // namespace lk
