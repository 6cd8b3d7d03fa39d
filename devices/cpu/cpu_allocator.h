// The host allocator: aligned heap blocks with statistics, an optional byte limit, and a cache
// of freed large blocks by size class.
//
// Why the cache: a training step frees and re-allocates the same big activations every step.
// Handing them back to the C heap returns them to the OS (glibc serves large blocks with mmap),
// so the next step page-faults the memory in again (~6% of MNIST CNN training in session 1's
// profile). Freed blocks of at least `min_cached_bytes` are kept, up to `max_cached_bytes` in
// all, and reused by the next request of the same size class (4 classes per power of two, so at
// most 25% slack).
//
//   CpuAllocator allocator({.name = "cpu:1", .bytes_limit = 1 << 30});
//   void* p = allocator.AllocateRaw(Allocator::kDefaultAlignment, 4096);
//   allocator.DeallocateRaw(p);
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "graph/allocator.h"
#include "graph/mutex.h"

namespace quiver {

// Environment override of max_cached_bytes for every CPU allocator, in MiB (0: no cache), so
// that benchmarks can compare with and without the cache on one binary.
inline constexpr char kCpuAllocatorCacheEnv[] = "QUIVER_CPU_ALLOCATOR_CACHE_MB";
// 512 MiB (0 under AddressSanitizer) unless the environment says otherwise.
int64_t DefaultCpuAllocatorCacheBytes();

struct CpuAllocatorOptions {
  std::string name = "cpu";
  int64_t bytes_limit = 0;                                     // 0: no limit on bytes handed out
  int64_t max_cached_bytes = DefaultCpuAllocatorCacheBytes();  // freed bytes kept (0: none)
  size_t min_cached_bytes = size_t{64} << 10;  // smaller blocks go straight back to the heap
};

class CpuAllocator final : public Allocator {
 public:
  explicit CpuAllocator(CpuAllocatorOptions options = {});
  ~CpuAllocator() override;  // frees the cache; blocks still handed out are the caller's bug
  CpuAllocator(const CpuAllocator&) = delete;
  CpuAllocator& operator=(const CpuAllocator&) = delete;

  std::string Name() const override { return options_.name; }
  void* AllocateRaw(size_t alignment, size_t num_bytes) override;
  void DeallocateRaw(void* ptr) override;
  AllocatorStats GetStats() const override;
  void ClearPeak() override;

  void SetBytesLimit(int64_t bytes_limit);
  int64_t cached_bytes() const;
  // Returns every cached block to the heap.
  void ReleaseCache();

  // Deletes `allocator` now if none of its blocks is still alive, else when the last one comes
  // back: tensors a session handed out (fetches) may outlive the session and its devices.
  static void DeleteWhenIdle(std::unique_ptr<CpuAllocator> allocator);

  // The size class a request of `num_bytes` is served from (exposed for tests).
  static size_t SizeClass(size_t num_bytes);

 private:
  void ReleaseCacheLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const CpuAllocatorOptions options_;
  mutable Mutex mu_;
  AllocatorStats stats_ ABSL_GUARDED_BY(mu_);
  int64_t live_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  bool delete_when_idle_ ABSL_GUARDED_BY(mu_) = false;
  int64_t cached_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Size class -> freed blocks (their base pointers) of that class.
  absl::flat_hash_map<size_t, std::vector<void*>> cache_ ABSL_GUARDED_BY(mu_);
};

// The process-wide host allocator: tensors made outside a session (tests, constant folding,
// feeds built by callers) come from here. Never destroyed.
Allocator* ProcessCpuAllocator();

}  // namespace quiver
