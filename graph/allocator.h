// The allocator interface every device implements (CPU heap, virtual CPU devices, CUDA BFC).
//
// It lives in graph/ (like TF's framework/allocator.h) because Tensor buffers remember the
// allocator that made them; the implementations live under devices/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace quiver {

struct AllocatorStats {
  int64_t num_allocs = 0;          // allocations served since creation
  int64_t bytes_in_use = 0;        // bytes currently handed out
  int64_t peak_bytes_in_use = 0;   // high-water mark since creation or the last ClearPeak
  int64_t largest_alloc_size = 0;  // largest single request served
  int64_t bytes_limit = 0;         // 0: no limit
};

class Allocator {
 public:
  static constexpr size_t kDefaultAlignment = 64;

  virtual ~Allocator() = default;
  // A short name for reports and errors: "cpu", "cpu:1", "gpu_bfc:0".
  virtual std::string Name() const = 0;
  // Returns nullptr when the memory cannot be had (out of memory, over bytes_limit); callers
  // turn that into a ResourceExhausted status naming the allocator and the size.
  // `alignment` is a power of two; `num_bytes` may be 0 (a valid, unique pointer is returned).
  virtual void* AllocateRaw(size_t alignment, size_t num_bytes) = 0;
  // `ptr` came from AllocateRaw of this allocator (nullptr is ignored).
  virtual void DeallocateRaw(void* ptr) = 0;
  virtual AllocatorStats GetStats() const = 0;
  virtual void ClearPeak() = 0;
  // True when the CPU may read and write the memory directly (host heap, pinned host memory);
  // false for device memory, which only copies through the device may touch.
  virtual bool host_accessible() const { return true; }
};

}  // namespace quiver
